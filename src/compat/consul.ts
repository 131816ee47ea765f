/**
 * A subset of Consul's HTTP API on the admin listener, so Consul clients and
 * tools (SDKs, Registrator, consul-template's health queries) register with and
 * discover through Waypost unchanged: agent service register/deregister,
 * maintenance and TTL check updates; catalog and health reads with blocking
 * queries (`?index=N&wait=30s`, `X-Consul-Index` = the service's registry revision).
 *
 * Names: `Name` and `ID` are mapped by names.ts (originals kept as `consul.name`
 * and `consul.id`). An `ID` is unique per agent, not per service: the instance
 * behind an ID is found among this process's own registrations first, then by
 * searching the mirror (a management call, never the request path).
 * Without `Address` the caller's address is registered (Consul would use its
 * node's). `Weights.Passing` is the weight; `Weights.Warning` applies while a
 * check warns. Errors are plain-text bodies with Consul's status codes (a
 * missing or wrong token is a 403), never a stack.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TokenGuard } from '../admin/auth.js';
import type { RegistrationTargets } from '../admin/targets.js';
import { BlockingQueries, MAX_WAIT_TIMEOUT_MS } from '../admin/blocking-query.js';
import type { AdminHandler, AdminHandlerContext } from '../admin/server.js';
import type { Clock } from '../clock.js';
import { ErrorCodes, WaypostError, describeError, invalid, isWaypostError } from '../errors.js';
import type { Logger } from '../log.js';
import type { RegistryMirror } from '../mirror/mirror.js';
import type { RegistryStore, ServiceState } from '../registry/store.js';
import { checkWeight, parseRegistration } from '../registry/validate.js';
import type { InstanceRecord } from '../types.js';
import {
  CHECK_STATUSES,
  CONSUL_META,
  ConsulAgent,
  parseGoDuration,
  parseStoredChecks,
  splitHostPort,
  type CheckDefinition,
  type CheckStatus,
} from './consul-checks.js';
import { toInstanceId, toServiceName } from './names.js';
import { checkToken, findInstance, isRecord, readLenientJson, remoteAddress, settle } from './shared.js';

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
const OWN_PATHS = ['agent', 'catalog', 'health', 'status'];
/** Consul's default blocking wait. */
const DEFAULT_WAIT_MS = 5 * 60_000;
const NODE = 'waypost';
const DATACENTER = 'dc1';

interface Request {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly parts: readonly string[];
  readonly query: URLSearchParams;
  readonly clientGone: AbortSignal;
}

type Handler = (request: Request) => Promise<void> | void;

export class ConsulApi {
  readonly #store: RegistryStore;
  readonly #mirror: RegistryMirror;
  readonly #token: TokenGuard;
  readonly #targets: RegistrationTargets;
  readonly #maxBodyBytes: number;
  readonly #log: Logger;
  readonly #agent: ConsulAgent;
  readonly #blocking: BlockingQueries;

  constructor(options: ConsulApiOptions) {
    this.#store = options.store;
    this.#mirror = options.mirror;
    this.#token = options.token;
    this.#targets = options.targets;
    this.#maxBodyBytes = options.maxBodyBytes;
    this.#log = options.logger.child({ component: 'consul' });
    this.#agent = new ConsulAgent({ store: options.store, clock: options.clock, logger: this.#log, leaseSeconds: options.leaseSeconds });
    this.#blocking = new BlockingQueries(options.mirror, options.maxWaiters);
  }

  readonly handle: AdminHandler = async (req, res, context: AdminHandlerContext) => {
    if (!context.path.startsWith(PREFIX)) return false;
    const parts = context.path.slice(PREFIX.length).split('/');
    if (!OWN_PATHS.includes(parts[0] ?? '')) return false;
    try {
      const decoded = parts.map(decodePart);
      const method = req.method === 'HEAD' ? 'GET' : req.method ?? 'GET';
      const routes = this.#routesFor(decoded);
      if (!routes) throw new WaypostError(ErrorCodes.NOT_FOUND, `Invalid URL path: not a supported Consul API path`);
      const handler = routes[method];
      if (!handler) throw new WaypostError(ErrorCodes.METHOD_NOT_ALLOWED, `method ${method} not allowed`);
      // Consul guards reads with ACLs too; Waypost, as its native API, guards writes.
      if (method !== 'GET') checkToken(this.#token, req.headers, req.headers['x-consul-token']?.toString() ?? context.query.get('token'));
      await handler({ req, res, parts: decoded, query: context.query, clientGone: context.clientGone });
    } catch (err) {
      this.#fail(req, res, err);
    }
    return true;
  };

  close(): void {
    this.#agent.close();
    this.#blocking.releaseAll();
  }

  #routesFor(parts: readonly string[]): Record<string, Handler> | undefined {
    const path = parts.join('/');
    const tail = parts[parts.length - 1] ?? '';
    if (path === 'agent/service/register') return { PUT: (r) => this.#register(r) };
    if (parts.length === 4 && path.startsWith('agent/service/deregister/')) return { PUT: (r) => this.#deregister(r, tail) };
    if (parts.length === 4 && path.startsWith('agent/service/maintenance/')) return { PUT: (r) => this.#maintenance(r, tail) };
    if (parts.length === 4 && parts[0] === 'agent' && parts[1] === 'check') {
      const fixed: Record<string, CheckStatus> = { pass: 'passing', warn: 'warning', fail: 'critical' };
      const status = fixed[parts[2]!];
      if (status) return { PUT: (r) => this.#checkUpdate(r, tail, status) };
      if (parts[2] === 'update') return { PUT: (r) => this.#checkUpdate(r, tail, undefined) };
      return undefined;
    }
    if (path === 'catalog/services') return { GET: (r) => this.#catalogServices(r) };
    if (parts.length === 3 && path.startsWith('catalog/service/')) return { GET: (r) => this.#catalogService(r, tail) };
    if (parts.length === 3 && path.startsWith('health/service/')) return { GET: (r) => this.#healthService(r, tail) };
    if (path === 'status/leader') return { GET: ({ res }) => sendJson(res, '127.0.0.1:8300') };
    return undefined;
  }

  async #register({ req, res }: Request): Promise<void> {
    const body = await readLenientJson(req, this.#maxBodyBytes, true);
    if (!isRecord(body)) throw invalid('', 'Request decode failed: body must be a JSON object');
    const name = field(body, 'Name');
    if (typeof name !== 'string' || name === '') throw invalid('Name', 'Missing service name');
    const service = toServiceName(name, 'Name');
    const rawId = field(body, 'ID');
    const consulId = typeof rawId === 'string' && rawId !== '' ? rawId : name;
    const id = toInstanceId(consulId, 'ID');

    const metadata: Record<string, string> = {};
    const meta = field(body, 'Meta');
    if (meta !== undefined && meta !== null) {
      if (!isRecord(meta)) throw invalid('Meta', 'Meta must be an object of strings');
      for (const [key, value] of Object.entries(meta)) if (!key.startsWith('consul.')) metadata[key] = value as string;
    }
    if (name !== service) metadata[CONSUL_META.name] = name;
    if (consulId !== id) metadata[CONSUL_META.id] = consulId;

    const weights = field(body, 'Weights');
    let weight: number | undefined;
    if (isRecord(weights)) {
      const passing = field(weights, 'Passing');
      const warning = field(weights, 'Warning');
      if (passing !== undefined) weight = checkWeight(passing, 'Weights.Passing');
      if (warning !== undefined) metadata[CONSUL_META.warningWeight] = String(checkWeight(warning, 'Weights.Warning'));
    }
    const address = field(body, 'Address');
    const host = typeof address === 'string' && address !== '' ? address : remoteAddress(req);
    const tags = field(body, 'Tags');
    const input = parseRegistration(
      {
        id,
        host,
        port: field(body, 'Port'),
        metadata,
        ttl: this.#agent.leaseSeconds,
        ...(tags === undefined || tags === null ? {} : { tags }),
        ...(weight === undefined ? {} : { weight }),
      },
      service,
    );
    await this.#targets.check(input.host, input.port);
    const { checks, initial } = parseChecks(body, consulId);
    // Consul keeps a service's maintenance mode across re-registrations.
    const maintenance = findInstance(this.#mirror.service(service), id)?.metadata[CONSUL_META.maintenance] === 'true';
    const record = await this.#agent.register(input, checks, initial, maintenance);
    await settle(this.#mirror, service, (state) => {
      const seen = findInstance(state, id);
      return seen !== undefined && seen.status === record.status && seen.metadata[CONSUL_META.checks] === record.metadata[CONSUL_META.checks];
    });
    sendEmpty(res);
  }

  async #deregister({ res }: Request, consulId: string): Promise<void> {
    const record = this.#findByConsulId(consulId);
    if (!record) throw unknownService(consulId);
    this.#agent.forget(record.service, record.id);
    if (!(await this.#store.deregister(record.service, record.id))) throw unknownService(consulId);
    await settle(this.#mirror, record.service, (state) => findInstance(state, record.id) === undefined);
    sendEmpty(res);
  }

  async #maintenance({ res, query }: Request, consulId: string): Promise<void> {
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
    sendEmpty(res);
  }

  async #checkUpdate({ req, res, query }: Request, checkId: string, fixed: CheckStatus | undefined): Promise<void> {
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
    const key = this.#agent.ownerOfCheck(checkId)!;
    if (!(await this.#agent.updateTtl(checkId, status, output))) throw unknownCheck(checkId);
    const service = key.slice(0, key.indexOf('/'));
    const id = key.slice(key.indexOf('/') + 1);
    await settle(this.#mirror, service, (state) => {
      const seen = findInstance(state, id);
      const stored = parseStoredChecks(seen?.metadata[CONSUL_META.checks]);
      return seen === undefined || stored?.find((c) => c.id === checkId)?.status === status;
    });
    sendEmpty(res);
  }

  async #catalogServices({ res, query, clientGone }: Request): Promise<void> {
    const index = parseIndex(query);
    if (index !== undefined) {
      await this.#blocking.waitForAnyChange({ afterRevision: index.after, timeoutMs: index.waitMs }, clientGone);
      if (clientGone.aborted) return;
    }
    const services: Record<string, string[]> = {};
    for (const state of this.#mirror.services()) {
      if (state.instances.length === 0) continue;
      const tags = new Set<string>();
      for (const record of state.instances) for (const tag of record.tags) tags.add(tag);
      services[displayName(state.instances[0]!)] = [...tags];
    }
    sendJson(res, services, consulIndex(this.#mirror.revision));
  }

  async #catalogService(request: Request, name: string): Promise<void> {
    const state = await this.#serviceState(request, name);
    if (!state) return;
    const tag = request.query.get('tag');
    const records = state.instances.filter((record) => tag === null || record.tags.includes(tag));
    sendJson(request.res, records.map(catalogEntry), consulIndex(state.revision));
  }

  async #healthService(request: Request, name: string): Promise<void> {
    const state = await this.#serviceState(request, name);
    if (!state) return;
    const passingOnly = request.query.has('passing') && request.query.get('passing') !== 'false';
    const tag = request.query.get('tag');
    const entries = [];
    for (const record of state.instances) {
      if (tag !== null && !record.tags.includes(tag)) continue;
      const checks = this.#checksOf(record);
      if (passingOnly && checks.some((check) => check.Status !== 'passing')) continue;
      entries.push({ Node: nodeEntry(), Service: agentService(record), Checks: checks });
    }
    sendJson(request.res, entries, consulIndex(state.revision));
  }

  /** The service's state, after waiting when the query blocks; undefined when the client left. */
  async #serviceState({ query, clientGone }: Request, name: string): Promise<ServiceState | undefined> {
    const service = toServiceName(name, 'service');
    const index = parseIndex(query);
    if (index === undefined) return this.#mirror.service(service) ?? { name: service, revision: 0, instances: [] };
    const state = await this.#blocking.wait(service, { afterRevision: index.after, timeoutMs: index.waitMs }, clientGone);
    return clientGone.aborted ? undefined : state;
  }

  #checksOf(record: InstanceRecord): Record<string, unknown>[] {
    const serviceId = record.metadata[CONSUL_META.id] ?? record.id;
    const base = { Node: NODE, ServiceID: serviceId, ServiceName: displayName(record), ServiceTags: record.tags, Notes: '', CreateIndex: 1, ModifyIndex: 1 };
    const stored = parseStoredChecks(record.metadata[CONSUL_META.checks]);
    const checks: Record<string, unknown>[] = (stored ?? []).map((check) => ({
      ...base,
      CheckID: check.id,
      Name: check.name,
      Status: check.status,
      Output: this.#agent.outputOf(check.id),
      Type: check.type,
    }));
    if (record.metadata[CONSUL_META.maintenance] === 'true') {
      checks.push({ ...base, CheckID: `_service_maintenance:${serviceId}`, Name: 'Service Maintenance Mode', Status: 'critical', Output: '', Type: 'maintenance' });
    }
    // Instances registered natively or through Eureka (or drained natively): their status is their health.
    if (!checks.some((check) => check.Status === 'critical') && (stored === undefined || record.status !== 'UP')) {
      checks.push({
        ...base,
        CheckID: `waypost:${serviceId}`,
        Name: 'Waypost registry status',
        Status: record.status === 'UP' ? 'passing' : 'critical',
        Output: `status ${record.status}`,
        Type: 'waypost',
      });
    }
    return checks;
  }

  /** The instance behind a Consul service ID: this process's registrations first, then the mirror. */
  #findByConsulId(consulId: string): InstanceRecord | undefined {
    const id = toInstanceId(consulId, 'ID');
    for (const state of this.#mirror.services()) {
      const record = findInstance(state, id);
      if (record && (record.metadata[CONSUL_META.id] ?? record.id) === consulId && this.#agent.has(record.service, record.id)) return record;
    }
    for (const state of this.#mirror.services()) {
      const record = findInstance(state, id);
      if (record && (record.metadata[CONSUL_META.id] ?? record.id) === consulId) return record;
    }
    return undefined;
  }

  #findByCheckId(checkId: string): InstanceRecord | undefined {
    for (const state of this.#mirror.services()) {
      for (const record of state.instances) {
        if (parseStoredChecks(record.metadata[CONSUL_META.checks])?.some((check) => check.id === checkId)) return record;
      }
    }
    return undefined;
  }

  #fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    if (!isWaypostError(err)) {
      this.#log.error({ err: describeError(err), method: req.method }, 'consul request failed');
      sendText(res, 500, 'internal error');
      return;
    }
    if (err.status >= 500) this.#log.warn({ err: describeError(err), code: err.code }, 'consul request refused');
    // Consul answers a missing or wrong ACL token with 403.
    if (err.code === ErrorCodes.UNAUTHORIZED) return sendText(res, 403, 'Permission denied: token not found or not allowed');
    const text = err.field && err.code === ErrorCodes.INVALID ? `Invalid ${err.field}: ${err.message}` : err.message;
    sendText(res, err.status, text, err.code === ErrorCodes.TOO_LARGE ? { connection: 'close' } : {});
  }
}

/** Go's JSON decoding (and so Consul) matches field names without regard to case. */
function field(body: Record<string, unknown>, name: string): unknown {
  if (name in body) return body[name];
  const lower = name.toLowerCase();
  for (const key of Object.keys(body)) if (key.toLowerCase() === lower) return body[key];
  return undefined;
}

/** `Check` or `Checks` of a registration; each check's starting status. */
function parseChecks(body: Record<string, unknown>, consulId: string): { checks: CheckDefinition[]; initial: CheckStatus[] } {
  const single = field(body, 'Check');
  const many = field(body, 'Checks');
  const raws: unknown[] = [];
  if (single !== undefined && single !== null) raws.push(single);
  if (Array.isArray(many)) raws.push(...many);
  else if (many !== undefined && many !== null) throw invalid('Checks', 'Checks must be an array');
  const checks: CheckDefinition[] = [];
  const initial: CheckStatus[] = [];
  raws.forEach((raw, i) => {
    const path = single !== undefined && single !== null && i === 0 ? 'Check' : `Checks[${i - (single ? 1 : 0)}]`;
    if (!isRecord(raw)) throw invalid(path, `${path} must be an object`);
    const givenId = field(raw, 'CheckID') ?? field(raw, 'ID');
    const id = typeof givenId === 'string' && givenId !== '' ? givenId : raws.length === 1 ? `service:${consulId}` : `service:${consulId}:${i + 1}`;
    const givenName = field(raw, 'Name');
    const name = typeof givenName === 'string' && givenName !== '' ? givenName : `Service '${consulId}' check`;
    const dcsaRaw = field(raw, 'DeregisterCriticalServiceAfter');
    const deregisterAfterMs = dcsaRaw === undefined || dcsaRaw === null || dcsaRaw === '' ? undefined : duration(dcsaRaw, `${path}.DeregisterCriticalServiceAfter`);
    const ttl = field(raw, 'TTL');
    const httpTarget = field(raw, 'HTTP');
    const tcpTarget = field(raw, 'TCP');
    let definition: CheckDefinition;
    if (typeof ttl === 'string' && ttl !== '') {
      definition = { id, name, type: 'ttl', ttlMs: positive(duration(ttl, `${path}.TTL`), `${path}.TTL`) };
    } else if ((typeof httpTarget === 'string' && httpTarget !== '') || (typeof tcpTarget === 'string' && tcpTarget !== '')) {
      const intervalMs = positive(duration(field(raw, 'Interval'), `${path}.Interval`), `${path}.Interval`);
      const timeoutRaw = field(raw, 'Timeout');
      const timeoutMs = timeoutRaw === undefined || timeoutRaw === '' ? undefined : duration(timeoutRaw, `${path}.Timeout`);
      if (typeof httpTarget === 'string' && httpTarget !== '') {
        let url: URL;
        try {
          url = new URL(httpTarget);
        } catch {
          throw invalid(`${path}.HTTP`, `${path}.HTTP must be an http:// URL`);
        }
        if (url.protocol !== 'http:') throw invalid(`${path}.HTTP`, `${path}.HTTP must be an http:// URL (https checks are not supported)`);
        const method = field(raw, 'Method');
        definition = { id, name, type: 'http', target: httpTarget, intervalMs, ...(typeof method === 'string' && method ? { method } : {}), ...(timeoutMs ? { timeoutMs } : {}) };
      } else {
        splitHostPort(tcpTarget as string);
        definition = { id, name, type: 'tcp', target: tcpTarget as string, intervalMs, ...(timeoutMs ? { timeoutMs } : {}) };
      }
    } else {
      throw invalid(path, `${path}: only TTL, HTTP + Interval and TCP + Interval checks are supported`);
    }
    if (deregisterAfterMs !== undefined) definition = { ...definition, deregisterAfterMs };
    const status = field(raw, 'Status');
    if (status !== undefined && status !== '' && !CHECK_STATUSES.includes(status as CheckStatus)) {
      throw invalid(`${path}.Status`, `${path}.Status must be passing, warning or critical`);
    }
    checks.push(definition);
    initial.push(typeof status === 'string' && status !== '' ? (status as CheckStatus) : 'critical');
  });
  if (new Set(checks.map((c) => c.id)).size !== checks.length) throw invalid('Checks', 'check IDs must be unique');
  return { checks, initial };
}

function duration(value: unknown, path: string): number {
  const ms = parseGoDuration(value);
  if (ms === undefined) throw invalid(path, `${path} must be a duration like 10s or 1m; got ${JSON.stringify(value)}`);
  return ms;
}

function positive(ms: number, path: string): number {
  if (ms < 1) throw invalid(path, `${path} must be positive`);
  return ms;
}

function parseIndex(query: URLSearchParams): { after: number; waitMs: number } | undefined {
  const index = query.get('index');
  if (index === null) return undefined;
  if (!/^\d{1,15}$/.test(index)) throw invalid('index', `index must be a non-negative integer; got ${JSON.stringify(index.slice(0, 40))}`);
  const wait = query.get('wait');
  let waitMs = DEFAULT_WAIT_MS;
  if (wait !== null) {
    const parsed = parseGoDuration(wait);
    if (parsed === undefined) throw invalid('wait', `wait must be a duration like 30s; got ${JSON.stringify(wait.slice(0, 40))}`);
    waitMs = parsed;
  }
  // The index a client sends back is one we reported: revision + 1.
  return { after: Math.max(0, Number(index) - 1), waitMs: Math.min(waitMs, MAX_WAIT_TIMEOUT_MS) };
}

/**
 * Consul clients treat index 0 as "reset" and our revisions start at 0, so the index is
 * revision + 1 (not max(1, revision): revisions 0 and 1 would share index 1, and a query
 * parked at index 1 on a fresh registry would miss the first change).
 */
function consulIndex(revision: number): Record<string, string> {
  return { 'x-consul-index': String(revision + 1), 'x-consul-knownleader': 'true', 'x-consul-lastcontact': '0' };
}

function displayName(record: InstanceRecord): string {
  return record.metadata[CONSUL_META.name] ?? record.service;
}

function userMeta(record: InstanceRecord): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const [key, value] of Object.entries(record.metadata)) if (!key.startsWith('consul.')) meta[key] = value;
  return meta;
}

function weights(record: InstanceRecord): { Passing: number; Warning: number } {
  const warning = Number(record.metadata[CONSUL_META.warningWeight] ?? record.weight);
  return { Passing: record.weight, Warning: warning };
}

function agentService(record: InstanceRecord): Record<string, unknown> {
  return {
    ID: record.metadata[CONSUL_META.id] ?? record.id,
    Service: displayName(record),
    Tags: record.tags,
    Address: record.host,
    Meta: userMeta(record),
    Port: record.port,
    Weights: weights(record),
    EnableTagOverride: false,
    CreateIndex: 1,
    ModifyIndex: 1,
  };
}

function nodeEntry(): Record<string, unknown> {
  return { ID: '', Node: NODE, Address: '127.0.0.1', Datacenter: DATACENTER, TaggedAddresses: {}, Meta: {}, CreateIndex: 1, ModifyIndex: 1 };
}

function catalogEntry(record: InstanceRecord): Record<string, unknown> {
  return {
    ID: '',
    Node: NODE,
    Address: record.host,
    Datacenter: DATACENTER,
    TaggedAddresses: {},
    NodeMeta: {},
    ServiceKind: '',
    ServiceID: record.metadata[CONSUL_META.id] ?? record.id,
    ServiceName: displayName(record),
    ServiceTags: record.tags,
    ServiceAddress: record.host,
    ServiceWeights: weights(record),
    ServiceMeta: userMeta(record),
    ServicePort: record.port,
    ServiceEnableTagOverride: false,
    CreateIndex: 1,
    ModifyIndex: 1,
  };
}

function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw invalid('path', 'path segment is not valid percent-encoding');
  }
}

function unknownService(consulId: string): WaypostError {
  return new WaypostError(ErrorCodes.NOT_FOUND, `Unknown service ID ${JSON.stringify(consulId.slice(0, 130))}. Ensure that the service ID is passed, not the service name.`);
}

function unknownCheck(checkId: string): WaypostError {
  return new WaypostError(ErrorCodes.NOT_FOUND, `Unknown check ID ${JSON.stringify(checkId.slice(0, 140))}. Ensure that the check ID is passed, not the check name.`);
}

function sendEmpty(res: ServerResponse): void {
  res.writeHead(200, { 'content-length': 0, 'cache-control': 'no-store' });
  res.end();
}

function sendJson(res: ServerResponse, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}
