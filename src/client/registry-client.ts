/**
 * Node client for the Waypost registry HTTP API (DESIGN §4): self-registration
 * with automatic heartbeats, status changes, deregistration, and client-side
 * discovery (`watch`) built on the blocking query. Uses the global fetch with a
 * timeout on every call; errors are `WaypostError`s carrying the API's code.
 *
 * ```ts
 * const client = new RegistryClient({ url: 'http://127.0.0.1:9901' });
 * const registration = client.register({ service: 'orders', host: '10.0.0.5', port: 8080, ttl: 30 });
 * await registration.ready;
 * const watch = client.watch('orders', (service) => console.log(service.instances.length));
 * // on shutdown:
 * await registration.setStatus('DRAINING');
 * await registration.deregister();
 * watch.close();
 * ```
 */
import { ErrorCodes, WaypostError, describeError, type ErrorCode } from '../errors.js';
import type { InstanceRecord, InstanceStatus, RegistrationInput } from '../types.js';
import type { StoredRoute } from '../registry/store.js';
import type { RouteListing } from '../routing/live-router.js';
import { backoffDelay, sleep, type BackoffOptions } from './backoff.js';
import { Registration, type RegistrationOptions } from './registration.js';
import type { RegistrationTarget, TargetService } from './target.js';

export interface RegistryClientOptions {
  /** Base URL of the admin API, e.g. `http://127.0.0.1:9901`. */
  readonly url: string;
  /** Bearer token for mutating calls (admin.token). */
  readonly token?: string;
  /** Time limit of one call (a blocking query gets its wait time on top). @default 5000 */
  readonly fetchTimeoutMs?: number;
  /** Retry timing of registrations and watches while the registry is unreachable. @default { initialMs: 250, maxMs: 5000 } */
  readonly backoff?: BackoffOptions;
}

/** Health of an instance as the registry's proxy sees it. */
export type InstanceHealth = 'healthy' | 'unhealthy' | 'ejected' | 'draining';

/** One instance as `GET /v1/services/{service}` returns it. */
export interface ServiceInstance extends InstanceRecord {
  readonly health: InstanceHealth;
}

/** `GET /v1/services/{service}`: a service at one revision. */
export interface ServiceView {
  readonly name: string;
  readonly revision: number;
  /** Sorted by id; empty for an unknown service. */
  readonly instances: readonly ServiceInstance[];
}

/** One row of `GET /v1/services`. */
export interface ServiceSummary {
  readonly name: string;
  readonly instances: number;
  readonly healthy: number;
}

export interface WatchOptions {
  /** How long each blocking query waits for a change. @default 30000 */
  readonly waitMs?: number;
  /** Called when a query fails; the watch retries with backoff. */
  readonly onError?: (err: Error) => void;
}

/** A running {@link RegistryClient.watch}. */
export interface Watch {
  /** Stops watching; no more calls to `onChange` after it returns. Idempotent. */
  close(): void;
}

const DEFAULT_FETCH_TIMEOUT_MS = 5000;
const DEFAULT_WAIT_MS = 30_000;
const KNOWN_CODES = new Set<string>(Object.values(ErrorCodes));

export class RegistryClient implements RegistrationTarget {
  readonly #base: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;
  readonly #backoff: BackoffOptions;
  readonly #registrations = new Set<Registration>();
  readonly #watches = new Set<Watch>();

  /** Validates the URL at once; no connection is made until the first call. */
  constructor(options: RegistryClientOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new WaypostError(ErrorCodes.INVALID, `url must be an http(s) URL; got ${JSON.stringify(options.url)}`, { field: 'url' });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new WaypostError(ErrorCodes.INVALID, `url must be an http(s) URL; got ${JSON.stringify(options.url)}`, { field: 'url' });
    }
    this.#base = url.href.replace(/\/+$/, '');
    this.#token = options.token || undefined;
    this.#timeoutMs = options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
    this.#backoff = options.backoff ?? {};
  }

  /** The admin API base URL this client talks to. */
  get url(): string {
    return this.#base;
  }

  /**
   * Registers an instance and keeps it registered (heartbeats at ttl/3 with
   * jitter, re-registration on lease loss, retries while the registry is away).
   * Returns at once; await `registration.ready` for the first stored record.
   */
  register(input: RegistrationInput, options: RegistrationOptions = {}): Registration {
    const registration = new Registration(this, input, { backoff: this.#backoff, ...options });
    this.#registrations.add(registration);
    return registration;
  }

  /** One `POST /v1/services/{service}/instances`; no heartbeats (see {@link register}). */
  async registerInstance(input: RegistrationInput): Promise<InstanceRecord> {
    const { service, ...body } = input;
    const res = await this.#call('POST', `${servicePath(service)}/instances`, { body: withoutUndefined(body) });
    return (await res.json()) as InstanceRecord;
  }

  /** One heartbeat; `undefined` when the registry answers 404 (register again). */
  async renew(service: string, id: string, options: { weight?: number } = {}): Promise<InstanceRecord | undefined> {
    const res = await this.#call('PUT', `${instancePath(service, id)}/heartbeat`, {
      body: options.weight === undefined ? {} : { weight: options.weight },
      allow404: true,
    });
    return res.status === 404 ? undefined : ((await res.json()) as InstanceRecord);
  }

  /** `PUT …/status`; `undefined` when the instance is unknown. */
  async setStatus(service: string, id: string, status: InstanceStatus): Promise<InstanceRecord | undefined> {
    const res = await this.#call('PUT', `${instancePath(service, id)}/status`, { body: { status }, allow404: true });
    return res.status === 404 ? undefined : ((await res.json()) as InstanceRecord);
  }

  /** `DELETE …/{id}`; false when the instance was unknown. */
  async deregister(service: string, id: string): Promise<boolean> {
    const res = await this.#call('DELETE', instancePath(service, id), { allow404: true });
    await res.body?.cancel();
    return res.status === 204;
  }

  /** `GET /v1/services`: every service with instance counts. */
  async listServices(): Promise<ServiceSummary[]> {
    const res = await this.#call('GET', '/v1/services');
    return ((await res.json()) as { services: ServiceSummary[] }).services;
  }

  /** `GET /v1/routes`: every route the proxy routes by, with its source (config, api, declared). */
  async listRoutes(): Promise<RouteListing> {
    return (await (await this.#call('GET', '/v1/routes')).json()) as RouteListing;
  }

  /** `PUT /v1/routes/{id}`: create or replace an API route (the body of a config route). */
  async putRoute(id: string, route: Readonly<Record<string, unknown>>): Promise<StoredRoute> {
    return (await (await this.#call('PUT', `/v1/routes/${encodeURIComponent(id)}`, { body: route })).json()) as StoredRoute;
  }

  /** `DELETE /v1/routes/{id}`; false when no API route has this id. */
  async deleteRoute(id: string): Promise<boolean> {
    const res = await this.#call('DELETE', `/v1/routes/${encodeURIComponent(id)}`, { allow404: true });
    await res.body?.cancel();
    return res.status === 204;
  }

  /** Names of services that have instances. */
  async listServiceNames(): Promise<string[]> {
    return (await this.listServices()).map((service) => service.name);
  }

  /** `GET /v1/services/{service}`; an unknown service comes back empty at revision 0. */
  async getService(service: string): Promise<ServiceView> {
    const res = await this.#call('GET', servicePath(service), { allow404: true });
    if (res.status === 404) {
      await res.body?.cancel();
      return { name: service, revision: 0, instances: [] };
    }
    return (await res.json()) as ServiceView;
  }

  /**
   * The blocking query: answers at once when the service changed after
   * `afterRevision`, else when it changes or `waitMs` passes (then with the same revision).
   */
  async waitForChange(service: string, afterRevision: number, waitMs = DEFAULT_WAIT_MS, signal?: AbortSignal): Promise<ServiceView> {
    const query = `?wait=${afterRevision}&timeout=${Math.max(0, Math.round(waitMs))}ms`;
    const res = await this.#call('GET', servicePath(service) + query, {
      timeoutMs: waitMs + this.#timeoutMs,
      allow404: true,
      ...(signal ? { signal } : {}),
    });
    if (res.status === 404) {
      await res.body?.cancel();
      return { name: service, revision: afterRevision, instances: [] };
    }
    return (await res.json()) as ServiceView;
  }

  /**
   * Client-side discovery: calls `onChange` with the current state, then again
   * each time the service's revision moves, using blocking queries from the
   * last revision seen. Failed queries are retried with backoff.
   */
  watch(service: string, onChange: (state: ServiceView) => void, options: WatchOptions = {}): Watch {
    const stop = new AbortController();
    const waitMs = options.waitMs ?? DEFAULT_WAIT_MS;
    const watch: Watch = {
      close: () => {
        stop.abort();
        this.#watches.delete(watch);
      },
    };
    this.#watches.add(watch);
    const loop = async (): Promise<void> => {
      let revision = -1;
      let failures = 0;
      while (!stop.signal.aborted) {
        try {
          const state =
            revision < 0 ? await this.getService(service) : await this.waitForChange(service, revision, waitMs, stop.signal);
          if (stop.signal.aborted) return;
          failures = 0;
          if (state.revision !== revision) {
            revision = state.revision;
            onChange(state);
          }
        } catch (err) {
          if (stop.signal.aborted) return;
          options.onError?.(err instanceof Error ? err : new Error(describeError(err)));
          await sleep(backoffDelay(failures++, this.#backoff), stop.signal);
        }
      }
    };
    void loop();
    return watch;
  }

  /** Stops every registration's heartbeats (without deregistering) and every watch. */
  async close(): Promise<void> {
    for (const watch of [...this.#watches]) watch.close();
    await Promise.all([...this.#registrations].map((registration) => registration.close()));
    this.#registrations.clear();
  }

  async #call(
    method: string,
    path: string,
    options: { body?: unknown; allow404?: boolean; timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (this.#token && method !== 'GET') headers.authorization = `Bearer ${this.#token}`;
    const timeout = AbortSignal.timeout(options.timeoutMs ?? this.#timeoutMs);
    const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
    let res: Response;
    try {
      res = await fetch(this.#base + path, {
        method,
        headers,
        signal,
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      });
    } catch (err) {
      const why = timeout.aborted ? `no answer within ${options.timeoutMs ?? this.#timeoutMs} ms` : causeText(err);
      throw new WaypostError(ErrorCodes.REGISTRY_UNAVAILABLE, `registry at ${this.#base} is unreachable: ${why}`, { cause: err });
    }
    if (res.ok || (res.status === 404 && options.allow404 && (await isUnknownInstance(res)))) return res;
    throw await errorFrom(res, method, path);
  }
}

function servicePath(service: string): string {
  return `/v1/services/${encodeURIComponent(service)}`;
}

function instancePath(service: string, id: string): string {
  return `${servicePath(service)}/instances/${encodeURIComponent(id)}`;
}

function withoutUndefined(body: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([, value]) => value !== undefined));
}

/** A 404 that means "no such instance/service", not "no such API path" (a wrong URL must not look like a lost lease). */
async function isUnknownInstance(res: Response): Promise<boolean> {
  try {
    const body = (await res.clone().json()) as { error?: string; field?: string };
    // Only "unknown instance/service" names the field; an unknown path (a wrong base URL) names none.
    return body.error === ErrorCodes.NOT_FOUND && (body.field === 'id' || body.field === 'service');
  } catch {
    return false;
  }
}

async function errorFrom(res: Response, method: string, path: string): Promise<WaypostError> {
  let body: { error?: unknown; message?: unknown; field?: unknown } = {};
  try {
    body = (await res.json()) as typeof body;
  } catch {
    // not JSON: described by status alone
  }
  const code: ErrorCode =
    typeof body.error === 'string' && KNOWN_CODES.has(body.error)
      ? (body.error as ErrorCode)
      : res.status >= 500
        ? ErrorCodes.REGISTRY_UNAVAILABLE
        : res.status === 404
          ? ErrorCodes.NOT_FOUND
          : ErrorCodes.INVALID;
  const message = typeof body.message === 'string' ? body.message : `${method} ${path} answered ${res.status}`;
  return new WaypostError(code, message, typeof body.field === 'string' ? { field: body.field } : {});
}

function causeText(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? describeError(err);
}
