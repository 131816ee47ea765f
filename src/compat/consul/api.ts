/**
 * A subset of Consul's HTTP API on the admin listener, so Consul clients and
 * tools (SDKs, Registrator, consul-template's health queries) register with and
 * discover through Waypost unchanged: agent service register/deregister,
 * maintenance and TTL check updates (here); catalog and health reads with
 * blocking queries (catalog.ts). Service definitions: definitions.ts; checks: checks.ts.
 *
 * An `ID` is unique per agent, not per service: the instance behind an ID is
 * found among this process's own registrations first, then by searching the
 * mirror (a management call, never the request path). Errors are plain-text
 * bodies with Consul's status codes (a missing or wrong token is a 403), never a stack.
 */
import type { ServerResponse } from 'node:http';
import type { TokenGuard } from '../../admin/auth.js';
import { BlockingQueries } from '../../admin/blocking-query.js';
import { sendJson } from '../../admin/body.js';
import type { ErrorFormat } from '../../admin/failure.js';
import { findInstance, settle } from '../../admin/registry-api.js';
import type { AdminHandler } from '../../admin/server.js';
import type { RegistrationTargets } from '../../admin/targets.js';
import type { Clock } from '../../clock.js';
import { ErrorCodes, WaypostError, invalid } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { RegistryMirror } from '../../mirror/mirror.js';
import type { RegistryStore } from '../../registry/store.js';
import type { InstanceRecord } from '../../types.js';
import { dispatch, type CompatCall, type CompatDispatchOptions } from '../dispatch.js';
import { toInstanceId } from '../names.js';
import { RouteTable } from '../route-table.js';
import { checkToken, isRecord, readLenientJson, remoteAddress, sendStatus } from '../shared.js';
import { ConsulCatalog } from './catalog.js';
import { ConsulAgent } from './checks.js';
import { field, parseConsulRegistration } from './definitions.js';
import { CHECK_STATUSES, CONSUL_META, consulIdOf, parseStoredChecks, type CheckStatus } from './model.js';

export interface ConsulApiOptions {
  store: RegistryStore;
  mirror: RegistryMirror;
  token: TokenGuard;
  targets: RegistrationTargets;
  maxBodyBytes: number;
  maxWaiters: number;
  leaseSeconds: number;
  clock: Clock;
  logger: Logger;
}

const PREFIX = '/v1/';

/** Consul's answers to refusals: plain text; a missing or wrong ACL token is a 403. */
const consulErrors: ErrorFormat = {
  refusal(res, err, headers) {
    if (err.code === ErrorCodes.UNAUTHORIZED) return sendText(res, 403, 'Permission denied: token not found or not allowed');
    const text = err.field && err.code === ErrorCodes.INVALID ? `Invalid ${err.field}: ${err.message}` : err.message;
    sendText(res, err.status, text, headers);
  },
  internal(res) {
    sendText(res, 500, 'internal error');
  },
};

export class ConsulApi {
  readonly #store: RegistryStore;
  readonly #mirror: RegistryMirror;
  readonly #targets: RegistrationTargets;
  readonly #maxBodyBytes: number;
  readonly #leaseSeconds: number;
  readonly #agent: ConsulAgent;
  readonly #blocking: BlockingQueries;
  readonly #routes: CompatDispatchOptions;

  constructor(options: ConsulApiOptions) {
    this.#store = options.store;
    this.#mirror = options.mirror;
    this.#targets = options.targets;
    this.#maxBodyBytes = options.maxBodyBytes;
    this.#leaseSeconds = options.leaseSeconds;
    const log = options.logger.child({ component: 'consul' });
    this.#agent = new ConsulAgent({ store: options.store, mirror: options.mirror, clock: options.clock, logger: log, leaseSeconds: options.leaseSeconds });
    this.#blocking = new BlockingQueries(options.mirror, options.maxWaiters);
    const catalog = new ConsulCatalog(options.mirror, this.#blocking, this.#agent);
    const checkUpdate = (status: CheckStatus | undefined) => (call: CompatCall, [checkId]: readonly string[]) => this.#checkUpdate(call, checkId!, status);
    this.#routes = {
      table: new RouteTable<CompatCall>({
        'agent/service/register': { PUT: (call) => this.#register(call) },
        'agent/service/deregister/:id': { PUT: (call, [id]) => this.#deregister(call, id!) },
        'agent/service/maintenance/:id': { PUT: (call, [id]) => this.#maintenance(call, id!) },
        'agent/check/pass/:check': { PUT: checkUpdate('passing') },
        'agent/check/warn/:check': { PUT: checkUpdate('warning') },
        'agent/check/fail/:check': { PUT: checkUpdate('critical') },
        'agent/check/update/:check': { PUT: checkUpdate(undefined) },
        'catalog/services': { GET: (call) => catalog.services(call) },
        'catalog/service/:name': { GET: (call, [name]) => catalog.service(call, name!) },
        'health/service/:name': { GET: (call, [name]) => catalog.health(call, name!) },
        'status/leader': { GET: ({ res }) => sendJson(res, 200, '127.0.0.1:8300') },
      }),
      format: consulErrors,
      log,
      // Consul guards reads with ACLs too; Waypost, as its native API, guards writes.
      authorize: ({ req, query }) => checkToken(options.token, req.headers, req.headers['x-consul-token']?.toString() ?? query.get('token')),
      notFoundMessage: 'Invalid URL path: not a supported Consul API path',
    };
  }

  readonly handle: AdminHandler = async (req, res, { path, query, clientGone }) => {
    if (!path.startsWith(PREFIX)) return false;
    // `/v1/services` is the native API's; only Consul's own roots are answered here.
    const relative = path.slice(PREFIX.length - 1);
    if (!this.#routes.table.owns(relative.split('/', 2)[1])) return false;
    await dispatch({ req, res, query, clientGone }, relative, this.#routes);
    return true;
  };

  close(): void {
    this.#agent.close();
    this.#blocking.releaseAll();
  }

  async #register({ req, res }: CompatCall): Promise<void> {
    const body = await readLenientJson(req, this.#maxBodyBytes, true);
    const { input, checks, initial } = parseConsulRegistration(body, { remoteAddress: remoteAddress(req), leaseSeconds: this.#leaseSeconds });
    await this.#targets.check(input.host, input.port);
    // Consul keeps a service's maintenance mode across re-registrations.
    const maintenance = findInstance(this.#mirror.service(input.service), input.id!)?.metadata[CONSUL_META.maintenance] === 'true';
    const record = await this.#agent.register(input, checks, initial, maintenance);
    await settle(this.#mirror, record.service, (state) => {
      const seen = findInstance(state, record.id);
      return seen !== undefined && seen.status === record.status && seen.metadata[CONSUL_META.checks] === record.metadata[CONSUL_META.checks];
    });
    sendStatus(res, 200);
  }

  async #deregister({ res }: CompatCall, consulId: string): Promise<void> {
    const record = this.#findByConsulId(consulId);
    if (!record) throw unknownService(consulId);
    this.#agent.forget(record.service, record.id);
    if (!(await this.#store.deregister(record.service, record.id))) throw unknownService(consulId);
    await settle(this.#mirror, record.service, (state) => findInstance(state, record.id) === undefined);
    sendStatus(res, 200);
  }

  async #maintenance({ res, query }: CompatCall, consulId: string): Promise<void> {
    const enable = query.get('enable');
    if (enable !== 'true' && enable !== 'false') throw invalid('enable', 'Missing value for enable');
    const record = this.#findByConsulId(consulId);
    if (!record) throw unknownService(consulId);
    if (!this.#agent.has(record.service, record.id) && !this.#agent.adopt(record)) {
      // A native or Eureka instance: maintenance is its registry status.
      await this.#store.setStatus(record.service, record.id, enable === 'true' ? 'OUT_OF_SERVICE' : 'UP');
    } else {
      await this.#agent.setMaintenance(record.service, record.id, enable === 'true');
    }
    await settle(this.#mirror, record.service, (state) => {
      const seen = findInstance(state, record.id);
      return seen === undefined || (seen.status === 'UP') === (enable === 'false');
    });
    sendStatus(res, 200);
  }

  async #checkUpdate({ req, res, query }: CompatCall, checkId: string, fixed: CheckStatus | undefined): Promise<void> {
    let status = fixed;
    let output = query.get('note') ?? '';
    if (status === undefined) {
      const body = await readLenientJson(req, this.#maxBodyBytes, true);
      const raw = isRecord(body) ? field(body, 'Status') : undefined;
      if (!CHECK_STATUSES.includes(raw as CheckStatus)) throw invalid('Status', `Invalid check status: ${JSON.stringify(raw)}`);
      status = raw as CheckStatus;
      const text = isRecord(body) ? field(body, 'Output') : undefined;
      if (typeof text === 'string') output = text;
    }
    if (!this.#agent.ownerOfCheck(checkId)) {
      const record = this.#findByCheckId(checkId);
      if (!record || !this.#agent.adopt(record)) throw unknownCheck(checkId);
    }
    const owner = this.#agent.ownerOfCheck(checkId)!;
    if (!(await this.#agent.updateTtl(checkId, status, output))) throw unknownCheck(checkId);
    await settle(this.#mirror, owner.service, (state) => {
      const seen = findInstance(state, owner.id);
      const stored = parseStoredChecks(seen?.metadata[CONSUL_META.checks]);
      return seen === undefined || stored?.find((c) => c.id === checkId)?.status === status;
    });
    sendStatus(res, 200);
  }

  /** The instance behind a Consul service ID: this process's registrations first, then the mirror. */
  #findByConsulId(consulId: string): InstanceRecord | undefined {
    const id = toInstanceId(consulId, 'ID');
    let elsewhere: InstanceRecord | undefined;
    for (const state of this.#mirror.services()) {
      const record = findInstance(state, id);
      if (!record || consulIdOf(record) !== consulId) continue;
      if (this.#agent.has(record.service, record.id)) return record;
      elsewhere ??= record;
    }
    return elsewhere;
  }

  #findByCheckId(checkId: string): InstanceRecord | undefined {
    for (const state of this.#mirror.services()) {
      for (const record of state.instances) {
        if (parseStoredChecks(record.metadata[CONSUL_META.checks])?.some((check) => check.id === checkId)) return record;
      }
    }
    return undefined;
  }
}

function unknownService(consulId: string): WaypostError {
  return new WaypostError(ErrorCodes.NOT_FOUND, `Unknown service ID ${JSON.stringify(consulId.slice(0, 130))}. Ensure that the service ID is passed, not the service name.`);
}

function unknownCheck(checkId: string): WaypostError {
  return new WaypostError(ErrorCodes.NOT_FOUND, `Unknown check ID ${JSON.stringify(checkId.slice(0, 140))}. Ensure that the check ID is passed, not the check name.`);
}

function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}
