/**
 * The registry half of the admin API (DESIGN §4): register, heartbeat, status,
 * deregister, list and get (plain or blocking). Writes go to the store; reads
 * come from the mirror, like the proxy's own routing does. After a write the
 * handler waits (bounded) until the mirror shows it, so a GET right after a POST
 * through this API sees the write (read-your-writes).
 *
 * Check order for writes: method, token, path, content type and size, body,
 * allowed hosts, then the store. Nothing is stored from a rejected request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, WaypostError } from '../errors.js';
import type { Logger } from '../log.js';
import type { RegistryMirror } from '../mirror/mirror.js';
import type { RegistryStore, ServiceState } from '../registry/store.js';
import { checkInstanceId, checkServiceName, parseHeartbeat, parseRegistration, parseStatusBody } from '../registry/validate.js';
import type { InstanceRecord } from '../types.js';
import type { TokenGuard } from './auth.js';
import type { RegistrationTargets } from './targets.js';
import { BlockingQueries, parseBlockingQuery } from './blocking-query.js';
import { readJsonBody, sendJson, sendNoContent } from './body.js';
import { serviceSummary, serviceView, type HealthOf } from './health-view.js';
import { sameFields } from '../registry/record.js';

export interface RegistryApiOptions {
  store: RegistryStore;
  mirror: RegistryMirror;
  healthOf: HealthOf;
  token: TokenGuard;
  targets: RegistrationTargets;
  blocking: BlockingQueries;
  maxBodyBytes: number;
  logger: Logger;
  /** Longest wait for the mirror to show a write before answering anyway. @default 1000 */
  readYourWritesMs?: number;
  /** Refuses registrations at the proxy's own listeners (403). */
}

/** A request under `/v1/services`, split into decoded path segments. */
export interface ApiRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** Path segments after `/v1/services`, URL-decoded. */
  readonly segments: readonly string[];
  readonly query: URLSearchParams;
  /** Aborts when the client goes away before the answer. */
  readonly clientGone: AbortSignal;
}

type Handler = (request: ApiRequest) => Promise<void>;

export class RegistryApi {
  readonly #store: RegistryStore;
  readonly #mirror: RegistryMirror;
  readonly #healthOf: HealthOf;
  readonly #token: TokenGuard;
  readonly #targets: RegistrationTargets;
  readonly #blocking: BlockingQueries;
  readonly #maxBodyBytes: number;
  readonly #log: Logger;
  readonly #readYourWritesMs: number;

  constructor(options: RegistryApiOptions) {
    this.#store = options.store;
    this.#mirror = options.mirror;
    this.#healthOf = options.healthOf;
    this.#token = options.token;
    this.#targets = options.targets;
    this.#blocking = options.blocking;
    this.#maxBodyBytes = options.maxBodyBytes;
    this.#log = options.logger;
    this.#readYourWritesMs = options.readYourWritesMs ?? READ_YOUR_WRITES_MS;
  }

  /** Handles a request under `/v1/services`; throws WaypostError for every refusal. */
  async handle(request: ApiRequest): Promise<void> {
    const { segments } = request;
    const method = request.req.method ?? 'GET';
    const routes = this.#routesFor(segments);
    if (!routes) throw new WaypostError(ErrorCodes.NOT_FOUND, 'no such admin API path');
    const handler = routes[method];
    if (!handler) throw new MethodNotAllowed(Object.keys(routes));
    if (method !== 'GET') this.#token.check(request.req.headers);
    await handler(request);
  }

  #routesFor(segments: readonly string[]): Record<string, Handler> | undefined {
    const [, third, , fifth] = segments;
    switch (segments.length) {
      case 0:
        return { GET: this.#listServices };
      case 1:
        return { GET: (r) => this.#get(r) };
      case 2:
        return third === 'instances' ? { POST: (r) => this.#register(r) } : undefined;
      case 3:
        return third === 'instances' ? { DELETE: (r) => this.#deregister(r) } : undefined;
      case 4:
        if (third !== 'instances') return undefined;
        if (fifth === 'heartbeat') return { PUT: (r) => this.#heartbeat(r) };
        if (fifth === 'status') return { PUT: (r) => this.#status(r) };
        return undefined;
      default:
        return undefined;
    }
  }

  readonly #listServices = async ({ res }: ApiRequest): Promise<void> => {
    const services = [];
    for (const state of this.#mirror.services()) {
      // An emptied service stays in the mirror (for blocking queries) until a resync; it has no instances to list.
      if (state.instances.length > 0) services.push(serviceSummary(state, this.#healthOf));
    }
    services.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    sendJson(res, 200, { services });
  };

  async #get(request: ApiRequest): Promise<void> {
    const service = checkServiceName(request.segments[0]);
    const blocking = parseBlockingQuery(request.query);
    let state: ServiceState | undefined;
    if (blocking) {
      state = await this.#blocking.wait(service, blocking, request.clientGone);
      if (request.clientGone.aborted) return;
    } else {
      state = this.#mirror.service(service);
      if (!state || (state.instances.length === 0 && state.revision === 0)) {
        throw new WaypostError(ErrorCodes.NOT_FOUND, `service "${service}" has no registered instances`, { field: 'service' });
      }
    }
    sendJson(request.res, 200, serviceView(state, this.#healthOf), { 'x-waypost-revision': state.revision });
  }

  async #register(request: ApiRequest): Promise<void> {
    const service = checkServiceName(request.segments[0]);
    const body = await readJsonBody(request.req, { maxBytes: this.#maxBodyBytes, required: true });
    const input = parseRegistration(body, service);
    await this.#targets.check(input.host, input.port);
    const { record } = await this.#store.register(input);
    await this.#settle(service, (state) => {
      const seen = findInstance(state, record.id);
      return seen !== undefined && sameFields(seen, record);
    });
    sendJson(request.res, 201, record);
  }

  async #heartbeat(request: ApiRequest): Promise<void> {
    const [service, id] = this.#instancePath(request);
    const body = await readJsonBody(request.req, { maxBytes: this.#maxBodyBytes, required: false });
    const options = parseHeartbeat(body);
    const record = await this.#store.renew(service, id, options);
    if (!record) throw unknownInstance(service, id, 'register it again');
    if (options.weight !== undefined) {
      await this.#settle(service, (state) => {
        const seen = findInstance(state, id);
        return seen === undefined || seen.weight === record.weight;
      });
    }
    sendJson(request.res, 200, record);
  }

  async #status(request: ApiRequest): Promise<void> {
    const [service, id] = this.#instancePath(request);
    const body = await readJsonBody(request.req, { maxBytes: this.#maxBodyBytes, required: true });
    const status = parseStatusBody(body);
    const record = await this.#store.setStatus(service, id, status);
    if (!record) throw unknownInstance(service, id);
    await this.#settle(service, (state) => {
      const seen = findInstance(state, id);
      return seen === undefined || seen.status === record.status;
    });
    sendJson(request.res, 200, record);
  }

  async #deregister(request: ApiRequest): Promise<void> {
    const [service, id] = this.#instancePath(request);
    const removed = await this.#store.deregister(service, id);
    if (!removed) throw unknownInstance(service, id);
    await this.#settle(service, (state) => findInstance(state, id) === undefined);
    sendNoContent(request.res);
  }

  #instancePath(request: ApiRequest): [string, string] {
    return [checkServiceName(request.segments[0]), checkInstanceId(request.segments[2])];
  }

  #settle(service: string, shown: (state: ServiceState | undefined) => boolean): Promise<void> {
    return settle(this.#mirror, service, shown, { timeoutMs: this.#readYourWritesMs, log: this.#log });
  }
}

/** Default bound of settle(): how long a write may take to show in the mirror. */
export const READ_YOUR_WRITES_MS = 1000;

/**
 * Waits until the mirror shows a write (`shown` holds), at most `timeoutMs`, so
 * a client that writes and then reads sees its write. When the mirror cannot
 * catch up (registry connection lost), the write is answered anyway: it was stored.
 * Shared with the compat APIs (src/compat), which answer writes the same way.
 */
export async function settle(
  mirror: RegistryMirror,
  service: string,
  shown: (state: ServiceState | undefined) => boolean,
  options: { timeoutMs?: number; log?: Logger } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? READ_YOUR_WRITES_MS);
  for (;;) {
    const state = mirror.service(service);
    if (shown(state)) return;
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      options.log?.warn({ service }, 'mirror did not show the write in time');
      return;
    }
    await mirror.waitForChange(service, state?.revision ?? 0, remaining);
  }
}

export class MethodNotAllowed extends WaypostError {
  readonly allow: readonly string[];

  constructor(allow: readonly string[]) {
    super(ErrorCodes.METHOD_NOT_ALLOWED, `this path accepts ${allow.join(', ')}`);
    this.allow = allow;
  }
}

/** The instance with this id in a service's state (a management call: it scans the service). */
export function findInstance(state: ServiceState | undefined, id: string): InstanceRecord | undefined {
  return state?.instances.find((record) => record.id === id);
}

function unknownInstance(service: string, id: string, hint?: string): WaypostError {
  const message = `instance "${id}" of service "${service}" is not registered (or its lease expired)`;
  return new WaypostError(ErrorCodes.NOT_FOUND, hint ? `${message}; ${hint}` : message, { field: 'id' });
}
