/**
 * Eureka's REST API on the admin listener, under `/eureka/v2/` and `/eureka/`,
 * so Eureka clients (eureka-js-client, Spring Cloud Netflix) register with
 * Waypost by changing only their service URL. JSON only.
 *
 * Writes go to the same store, with the same validation (eureka-mapping.ts ends
 * in parseRegistration), token and CIDR guards as the native API; reads come
 * from the mirror, so native instances show up too. Errors are bare status
 * codes, which is all Eureka clients look at (404 on a heartbeat makes them
 * register again).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TokenGuard } from '../admin/auth.js';
import type { RegistrationTargets } from '../admin/targets.js';
import type { AdminHandler, AdminHandlerContext } from '../admin/server.js';
import { ErrorCodes, WaypostError, describeError, isWaypostError, invalid } from '../errors.js';
import type { Logger } from '../log.js';
import type { RegistryMirror } from '../mirror/mirror.js';
import type { RegistryStore, ServiceState } from '../registry/store.js';
import { parseRegistration } from '../registry/validate.js';
import type { InstanceRecord, RegistrationInput } from '../types.js';
import {
  EUREKA_META,
  appNameOf,
  appsHashCode,
  eurekaStatusOf,
  idForInstance,
  isEurekaStatus,
  parseEurekaRegistration,
  serviceForApp,
  toEurekaInstance,
  toWaypostStatus,
  type EurekaInstance,
} from './eureka-mapping.js';
import { checkToken, findInstance, readLenientJson, settle } from './shared.js';

export interface EurekaApiOptions {
  store: RegistryStore;
  mirror: RegistryMirror;
  token: TokenGuard;
  targets: RegistrationTargets;
  maxBodyBytes: number;
  logger: Logger;
}

const PREFIXES = ['/eureka/v2/', '/eureka/'] as const;
/** Eureka keeps changes for its delta this long (eureka.server.retentionTimeInMSInDeltaQueue). */
const DELTA_RETENTION_MS = 3 * 60_000;
/** Bound on the delta queue whatever the change rate. */
const DELTA_MAX_ENTRIES = 10_000;

interface DeltaEntry {
  readonly at: number;
  readonly instance: EurekaInstance;
}

interface FullView {
  readonly revision: number;
  readonly hashCode: string;
  readonly text: string;
}

type Handler = (req: IncomingMessage, res: ServerResponse, parts: readonly string[], context: AdminHandlerContext) => Promise<void> | void;

export class EurekaApi {
  readonly #store: RegistryStore;
  readonly #mirror: RegistryMirror;
  readonly #token: TokenGuard;
  readonly #targets: RegistrationTargets;
  readonly #maxBodyBytes: number;
  readonly #log: Logger;
  /** What this layer last saw of each service, to turn mirror changes into delta entries. */
  readonly #known = new Map<string, ReadonlyMap<string, InstanceRecord>>();
  #delta: DeltaEntry[] = [];
  #full: FullView | undefined;
  readonly #unsubscribe: () => void;

  constructor(options: EurekaApiOptions) {
    this.#store = options.store;
    this.#mirror = options.mirror;
    this.#token = options.token;
    this.#targets = options.targets;
    this.#maxBodyBytes = options.maxBodyBytes;
    this.#log = options.logger.child({ component: 'eureka' });
    for (const state of this.#mirror.services()) this.#known.set(state.name, byId(state));
    this.#unsubscribe = this.#mirror.onChange((service, state) => this.#recordDelta(service, state));
  }

  readonly handle: AdminHandler = async (req, res, context) => {
    const prefix = PREFIXES.find((p) => context.path.startsWith(p));
    if (!prefix) return false;
    try {
      const parts = context.path
        .slice(prefix.length)
        .split('/')
        .filter((part) => part !== '')
        .map(decodePart);
      const handler = this.#route(req.method ?? 'GET', parts);
      if (handler === undefined) throw new WaypostError(ErrorCodes.NOT_FOUND, 'no such Eureka path');
      if (handler === 'method') throw new WaypostError(ErrorCodes.METHOD_NOT_ALLOWED, 'method not allowed');
      if (req.method !== 'GET' && req.method !== 'HEAD') checkToken(this.#token, req.headers);
      await handler(req, res, parts, context);
    } catch (err) {
      this.#fail(req, res, err);
    }
    return true;
  };

  close(): void {
    this.#unsubscribe();
  }

  #route(method: string, parts: readonly string[]): Handler | 'method' | undefined {
    const [kind, app, , action] = parts;
    const pick = (table: Record<string, Handler>) => table[method === 'HEAD' ? 'GET' : method] ?? 'method';
    if (kind === 'vips' || kind === 'svips') {
      return parts.length === 2 ? pick({ GET: (_q, res, p) => this.#getVip(res, p[1]!, kind === 'svips') }) : undefined;
    }
    if (kind !== 'apps') return undefined;
    switch (parts.length) {
      case 1:
        return pick({ GET: (_q, res) => this.#getApps(res) });
      case 2:
        if (app === 'delta') return pick({ GET: (_q, res) => this.#getDelta(res) });
        return pick({ GET: (_q, res, p) => this.#getApp(res, p[1]!), POST: (q, res, p) => this.#register(q, res, p[1]!) });
      case 3:
        return pick({
          GET: (_q, res, p) => this.#getInstance(res, p[1]!, p[2]!),
          PUT: (_q, res, p) => this.#heartbeat(res, p[1]!, p[2]!),
          DELETE: (_q, res, p) => this.#deregister(res, p[1]!, p[2]!),
        });
      case 4:
        if (action === 'status') {
          return pick({
            PUT: (_q, res, p, c) => this.#overrideStatus(res, p[1]!, p[2]!, c.query),
            DELETE: (_q, res, p) => this.#removeOverride(res, p[1]!, p[2]!),
          });
        }
        if (action === 'metadata') return pick({ PUT: (_q, res, p, c) => this.#updateMetadata(res, p[1]!, p[2]!, c.query) });
        return undefined;
      default:
        return undefined;
    }
  }

  async #register(req: IncomingMessage, res: ServerResponse, app: string): Promise<void> {
    const body = await readLenientJson(req, this.#maxBodyBytes, true);
    let input = parseEurekaRegistration(body, app);
    await this.#targets.check(input.host, input.port);
    // Eureka keeps a status override across re-registrations until it is removed.
    const existing = findInstance(this.#mirror.service(input.service), input.id!);
    const override = existing?.metadata[EUREKA_META.overriddenStatus];
    if (isEurekaStatus(override)) {
      input = { ...input, status: toWaypostStatus(override), metadata: { ...input.metadata, [EUREKA_META.overriddenStatus]: override } };
    }
    await this.#write(input);
    sendStatus(res, 204);
  }

  async #heartbeat(res: ServerResponse, app: string, instanceId: string): Promise<void> {
    const record = await this.#store.renew(serviceForApp(app), idForInstance(instanceId));
    if (!record) throw unknownInstance();
    sendStatus(res, 200);
  }

  async #deregister(res: ServerResponse, app: string, instanceId: string): Promise<void> {
    const service = serviceForApp(app);
    const id = idForInstance(instanceId);
    if (!(await this.#store.deregister(service, id))) throw unknownInstance();
    await settle(this.#mirror, service, (state) => findInstance(state, id) === undefined);
    sendStatus(res, 200);
  }

  async #overrideStatus(res: ServerResponse, app: string, instanceId: string, query: URLSearchParams): Promise<void> {
    const value = query.get('value');
    if (!isEurekaStatus(value)) throw invalid('value', 'value must be a Eureka status');
    const record = this.#current(app, instanceId);
    await this.#write(
      reRegistration(record, { status: toWaypostStatus(value), metadata: { ...record.metadata, [EUREKA_META.overriddenStatus]: value } }),
    );
    sendStatus(res, 200);
  }

  async #removeOverride(res: ServerResponse, app: string, instanceId: string): Promise<void> {
    const record = this.#current(app, instanceId);
    const { [EUREKA_META.overriddenStatus]: _removed, ...metadata } = record.metadata;
    const own = record.metadata[EUREKA_META.status];
    const status = isEurekaStatus(own) ? toWaypostStatus(own) : 'UP';
    await this.#write(reRegistration(record, { status, metadata }));
    sendStatus(res, 200);
  }

  async #updateMetadata(res: ServerResponse, app: string, instanceId: string, query: URLSearchParams): Promise<void> {
    const record = this.#current(app, instanceId);
    const metadata: Record<string, string> = { ...record.metadata };
    for (const [key, value] of query) {
      if (key.startsWith('eureka.')) throw invalid(`metadata.${key}`, 'metadata keys starting with "eureka." are reserved');
      metadata[key] = value;
    }
    await this.#write(reRegistration(record, { metadata }));
    sendStatus(res, 200);
  }

  #getApps(res: ServerResponse): void {
    sendJsonText(res, this.#fullView().text);
  }

  #getApp(res: ServerResponse, app: string): void {
    const state = this.#mirror.service(serviceForApp(app));
    if (!state || state.instances.length === 0) throw unknownInstance();
    sendJson(res, { application: applicationOf(state.instances) });
  }

  #getInstance(res: ServerResponse, app: string, instanceId: string): void {
    sendJson(res, { instance: toEurekaInstance(this.#current(app, instanceId)) });
  }

  #getVip(res: ServerResponse, vip: string, secure: boolean): void {
    const key = secure ? EUREKA_META.secureVipAddress : EUREKA_META.vipAddress;
    const matches: InstanceRecord[] = [];
    for (const state of this.#mirror.services()) {
      for (const record of state.instances) {
        const addresses = (record.metadata[key] ?? record.service).split(',');
        if (addresses.includes(vip)) matches.push(record);
      }
    }
    sendJson(res, applicationsOf(matches, String(this.#mirror.revision), appsHashCode(matches.map((record) => ({ status: eurekaStatusOf(record) })))));
  }

  #getDelta(res: ServerResponse): void {
    this.#trimDelta(Date.now());
    const instances = this.#delta.map((entry) => entry.instance);
    const grouped = new Map<string, EurekaInstance[]>();
    for (const instance of instances) {
      const list = grouped.get(instance.app) ?? [];
      list.push(instance);
      grouped.set(instance.app, list);
    }
    sendJson(res, {
      applications: {
        versions__delta: String(this.#mirror.revision),
        apps__hashcode: this.#fullView().hashCode,
        application: [...grouped].map(([name, list]) => ({ name, instance: list })),
      },
    });
  }

  /** GET /apps is what every client polls: render it once per registry revision. */
  #fullView(): FullView {
    const revision = this.#mirror.revision;
    if (this.#full?.revision === revision) return this.#full;
    const records: InstanceRecord[] = [];
    for (const state of this.#mirror.services()) records.push(...state.instances);
    const hashCode = appsHashCode(records.map((record) => ({ status: eurekaStatusOf(record) })));
    const text = JSON.stringify(applicationsOf(records, String(revision), hashCode));
    this.#full = { revision, hashCode, text };
    return this.#full;
  }

  #current(app: string, instanceId: string): InstanceRecord {
    const record = findInstance(this.#mirror.service(serviceForApp(app)), idForInstance(instanceId));
    if (!record) throw unknownInstance();
    return record;
  }

  async #write(input: RegistrationInput): Promise<void> {
    const { record } = await this.#store.register(input);
    await settle(this.#mirror, record.service, (state) => {
      const seen = findInstance(state, record.id);
      return seen !== undefined && seen.registeredAt === record.registeredAt && sameForEureka(seen, record);
    });
  }

  /** Turns one service's change into ADDED / MODIFIED / DELETED entries for /apps/delta. */
  #recordDelta(service: string, state: ServiceState | undefined): void {
    const before = this.#known.get(service) ?? new Map<string, InstanceRecord>();
    const after = state ? byId(state) : new Map<string, InstanceRecord>();
    const now = Date.now();
    for (const [id, record] of after) {
      const old = before.get(id);
      if (!old) this.#delta.push({ at: now, instance: toEurekaInstance(record, 'ADDED') });
      else if (old !== record && !sameForEureka(old, record)) this.#delta.push({ at: now, instance: toEurekaInstance(record, 'MODIFIED') });
    }
    for (const [id, record] of before) {
      if (!after.has(id)) this.#delta.push({ at: now, instance: toEurekaInstance(record, 'DELETED') });
    }
    if (after.size === 0) this.#known.delete(service);
    else this.#known.set(service, after);
    this.#trimDelta(now);
  }

  #trimDelta(now: number): void {
    let drop = 0;
    while (drop < this.#delta.length && now - this.#delta[drop]!.at > DELTA_RETENTION_MS) drop += 1;
    drop = Math.max(drop, this.#delta.length - DELTA_MAX_ENTRIES);
    if (drop > 0) this.#delta = this.#delta.slice(drop);
  }

  #fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    if (!isWaypostError(err)) {
      this.#log.error({ err: describeError(err), method: req.method }, 'eureka request failed');
      sendStatus(res, 500);
      return;
    }
    if (err.status >= 500) this.#log.warn({ err: describeError(err), code: err.code }, 'eureka request refused');
    else this.#log.debug({ err: err.message, field: err.field, method: req.method }, 'eureka request rejected');
    // The rest of an oversized body was not read: close instead of draining it.
    sendStatus(res, err.status, err.code === ErrorCodes.TOO_LARGE ? { connection: 'close' } : {});
  }
}

function applicationOf(records: readonly InstanceRecord[]): { name: string; instance: EurekaInstance[] } {
  return { name: appNameOf(records[0]!), instance: records.map((record) => toEurekaInstance(record)) };
}

function applicationsOf(records: readonly InstanceRecord[], revision: string, hashCode: string): unknown {
  const byApp = new Map<string, InstanceRecord[]>();
  for (const record of records) {
    const name = appNameOf(record);
    const list = byApp.get(name) ?? [];
    list.push(record);
    byApp.set(name, list);
  }
  return {
    applications: {
      versions__delta: revision,
      apps__hashcode: hashCode,
      application: [...byApp.values()].map(applicationOf),
    },
  };
}

function reRegistration(record: InstanceRecord, changes: Partial<RegistrationInput>): RegistrationInput {
  return parseRegistration(
    {
      id: record.id,
      host: record.host,
      port: record.port,
      weight: record.weight,
      zone: record.zone,
      tags: [...record.tags],
      metadata: { ...record.metadata },
      status: record.status,
      ttl: record.ttl,
      ...changes,
    },
    record.service,
  );
}

function byId(state: ServiceState): Map<string, InstanceRecord> {
  return new Map(state.instances.map((record) => [record.id, record]));
}

function sameMetadata(a: InstanceRecord, b: InstanceRecord): boolean {
  const keys = Object.keys(a.metadata);
  return keys.length === Object.keys(b.metadata).length && keys.every((key) => a.metadata[key] === b.metadata[key]);
}

/** Equal in everything a Eureka client sees, lease times aside. */
function sameForEureka(a: InstanceRecord, b: InstanceRecord): boolean {
  return a.host === b.host && a.port === b.port && a.status === b.status && a.zone === b.zone && a.ttl === b.ttl && sameMetadata(a, b);
}

function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw invalid('path', 'path segment is not valid percent-encoding');
  }
}

function unknownInstance(): WaypostError {
  return new WaypostError(ErrorCodes.NOT_FOUND, 'not registered (or the lease expired)');
}

function sendStatus(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-length': 0, 'cache-control': 'no-store', ...headers });
  res.end();
}

function sendJson(res: ServerResponse, body: unknown): void {
  sendJsonText(res, JSON.stringify(body));
}

function sendJsonText(res: ServerResponse, text: string): void {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
