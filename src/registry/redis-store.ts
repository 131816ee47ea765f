/**
 * The shared registry: any number of proxies and registrars on one Redis
 * (standalone, Sentinel or Cluster). Each write is one Lua script
 * (redis-scripts.ts) that changes the record, its lease, the revision and the
 * change feed atomically; leases are judged on the Redis server's clock.
 * The offset from that clock to this process's is estimated (redis-clock.ts) so
 * the mirror can measure propagation on one clock.
 */
import type { Clock } from '../clock.js';
import type { WaypostConfig } from '../config/schema.js';
import { describeError, ErrorCodes, WaypostError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import type { DeclaredRoute, InstanceProtocol, InstanceRecord, InstanceStatus, RegistrationInput } from '../types.js';
import { generateInstanceId, instanceLimitMessage, leasePolicy, type LeasePolicy, type StoreOptions } from './lease.js';
import {
  createRedisClient,
  describeTopology,
  parseRedisTopology,
  registryUnavailable,
  type ConnectionTuning,
  type RedisClient,
  type RedisTopology,
} from './redis-connection.js';
import { RedisClockOffset } from './redis-clock.js';
import { decodeRoute, feedEntryToEvent, RedisFeedReader, type StreamEntry } from './redis-feed.js';
import { applyEvent, byId } from './snapshot.js';
import {
  CLOCK,
  DEREGISTER,
  GET_SERVICE,
  LIST_SERVICES,
  REGISTER,
  RENEW,
  ROUTE_DELETE,
  ROUTE_PUT,
  SET_STATUS,
  STATE,
  STATE_NAMES,
  STATE_PAGE,
  SWEEP,
  type LuaScript,
} from './redis-scripts.js';
import type {
  FeedHandlers,
  FeedSubscription,
  PutRouteResult,
  RegisterResult,
  RegistryState,
  RegistryStore,
  ServiceCount,
  ServiceState,
  StoredRoute,
  SweepResult,
} from './store.js';
import { isRouteEvent } from './store.js';
import { canonicalJson, declaredRouteKey, frozenDeclaredRoutes, routeConflict, type RouteBody } from './routes.js';
import { DEFAULT_WEIGHT } from './validate.js';

export interface RedisStoreOptions extends StoreOptions, ConnectionTuning {
  redis: Pick<WaypostConfig['redis'], 'url' | 'sentinels' | 'name' | 'cluster' | 'password' | 'prefix' | 'feedLength'>;
  /**
   * How long a write keeps retrying while the connection is down (long enough
   * to ride out a Sentinel failover) before it rejects. @default 3000
   */
  writeRetryMs?: number;
  /** start() gives up after this long. @default 5000 */
  startTimeoutMs?: number;
  /**
   * state() reads at most this many services per script (Redis serves nothing else while a
   * script runs); larger registries are loaded in pages and made consistent from the feed.
   * @default 100
   */
  statePageSize?: number;
  /**
   * Due leases one sweep handles (the earliest); the rest wait for the next sweep. Bounds how
   * long a sweep script holds Redis. Self-preservation still judges whole services.
   * @default 100000
   */
  maxDuePerSweep?: number;
  /** This process's clock, against which the Redis clock offset is estimated. @default systemClock */
  clock?: Clock;
}

/** Feed entries read per XRANGE while replaying changes made during a paged state load. */
const REPLAY_BATCH = 1000;

/**
 * Reply errors that mean "not now" (failover, loading, resharding) rather than a bug.
 * NOREPLICAS: the master runs with `min-replicas-to-write` (the durability knob Waypost
 * relies on instead of WAIT) and no replica is in sync; the write was refused whole.
 */
const TRANSIENT_REPLY = /^(READONLY|LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|MOVED|ASK|NOREPLICAS)\b/;
/**
 * Client errors worth retrying: the command was not sent (offline, no master yet),
 * or its connection dropped. A dropped write may already be applied; retrying is
 * still safe because register/renew/setStatus are idempotent by id (a retried
 * deregister may report false). Command timeouts are not retried.
 */
const NOT_SENT = /enableOfflineQueue|Connection is closed|None of the sentinels|All sentinels are unreachable|Failed to refresh slots cache|None of startup nodes/i;

class RedisKeys {
  readonly tag: string;
  readonly rev: string;
  readonly services: string;
  readonly svcrev: string;
  readonly leases: string;
  readonly feed: string;
  readonly routes: string;

  constructor(prefix: string) {
    // One hash tag for every key: all of them land in one Cluster slot, so scripts may touch any.
    this.tag = `{${prefix}}`;
    this.rev = `${this.tag}:rev`;
    this.services = `${this.tag}:services`;
    this.svcrev = `${this.tag}:svcrev`;
    this.leases = `${this.tag}:leases`;
    this.feed = `${this.tag}:feed`;
    this.routes = `${this.tag}:routes`;
  }

  svc(service: string): string {
    return `${this.tag}:svc:${service}`;
  }
}

export class RedisStore implements RegistryStore {
  readonly kind = 'redis' as const;
  readonly #topology: RedisTopology;
  readonly #target: string;
  readonly #client: RedisClient;
  readonly #keys: RedisKeys;
  readonly #feedLength: string;
  readonly #policy: LeasePolicy;
  readonly #tuning: ConnectionTuning;
  readonly #writeRetryMs: number;
  readonly #startTimeoutMs: number;
  readonly #statePageSize: number;
  readonly #maxDuePerSweep: number;
  readonly #onSweep: ((result: SweepResult) => void) | undefined;
  readonly #log: Logger;
  readonly #readers = new Set<RedisFeedReader>();
  readonly #clockOffset: RedisClockOffset;
  #sweepTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: RedisStoreOptions) {
    this.#topology = parseRedisTopology(options.redis);
    this.#target = describeTopology(this.#topology);
    this.#log = (options.logger ?? silentLogger).child({ component: 'redis-store' });
    this.#tuning = { commandTimeoutMs: options.commandTimeoutMs, connectTimeoutMs: options.connectTimeoutMs };
    this.#client = createRedisClient(this.#topology, this.#log, 'commands', this.#tuning);
    this.#keys = new RedisKeys(options.redis.prefix);
    this.#feedLength = String(options.redis.feedLength);
    this.#policy = leasePolicy(options);
    this.#writeRetryMs = options.writeRetryMs ?? 3000;
    this.#startTimeoutMs = options.startTimeoutMs ?? 5000;
    this.#statePageSize = Math.max(1, options.statePageSize ?? 100);
    this.#maxDuePerSweep = Math.max(1, options.maxDuePerSweep ?? 100_000);
    this.#onSweep = options.onSweep;
    this.#clockOffset = new RedisClockOffset({
      readRegistryTime: async () => Number(await this.#run(CLOCK, [this.#keys.rev], [], 0)),
      ...(options.clock ? { clock: options.clock } : {}),
    });
  }

  /** Estimated Redis clock minus this process's clock (ms); ChangeEvent.at is on the Redis clock. */
  get clockOffsetMs(): number {
    return this.#clockOffset.offsetMs;
  }

  get connected(): boolean {
    return !this.#closed && this.#client.status === 'ready';
  }

  /** The Redis target without credentials. */
  get target(): string {
    return this.#target;
  }

  async start(): Promise<void> {
    if (this.#closed) throw new WaypostError(ErrorCodes.CLOSED, 'registry store is closed');
    if (this.#sweepTimer) return;
    await this.#connect();
    await this.#clockOffset.start();
    this.#scheduleSweep();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#clockOffset.stop();
    clearTimeout(this.#sweepTimer);
    this.#sweepTimer = undefined;
    for (const reader of [...this.#readers]) reader.close();
    this.#client.disconnect();
  }

  async register(input: RegistrationInput): Promise<RegisterResult> {
    const { service } = input;
    // The id is fixed before the first attempt so that a retried write updates the same instance.
    const id = input.id ?? generateInstanceId(service);
    const ttl = input.ttl ?? this.#policy.defaultTtlSeconds;
    const keys = this.#keys;
    const [kind, packed, owner] = (await this.#run(
      REGISTER,
      [keys.rev, keys.svc(service), keys.services, keys.svcrev, keys.leases, keys.feed],
      [
        service,
        id,
        String(ttl),
        String(input.weight ?? DEFAULT_WEIGHT),
        input.status ?? 'UP',
        encodeBody(input),
        String(this.#policy.maxInstancesPerService),
        this.#feedLength,
        keys.tag,
        (input.routes ?? []).map(declaredRouteKey).join('\n'),
      ],
    )) as [string, string, string];
    // Here the reply is {'conflict', routeKey, ownerService}.
    if (kind === 'conflict') throw routeConflict(service, packed, owner);
    if (kind === 'limit') {
      throw new WaypostError(ErrorCodes.LIMIT_EXCEEDED, instanceLimitMessage(service, this.#policy.maxInstancesPerService));
    }
    return { record: decodeRecord(service, id, packed), created: kind === 'register' };
  }

  async renew(service: string, id: string, options: { weight?: number } = {}): Promise<InstanceRecord | undefined> {
    const keys = this.#keys;
    const packed = (await this.#run(
      RENEW,
      [keys.rev, keys.svc(service), keys.svcrev, keys.leases, keys.feed],
      [service, id, options.weight === undefined ? '' : String(options.weight), this.#feedLength],
    )) as string | null;
    return packed ? decodeRecord(service, id, packed) : undefined;
  }

  async setStatus(service: string, id: string, status: InstanceStatus): Promise<InstanceRecord | undefined> {
    const keys = this.#keys;
    const packed = (await this.#run(
      SET_STATUS,
      [keys.rev, keys.svc(service), keys.svcrev, keys.feed],
      [service, id, status, this.#feedLength],
    )) as string | null;
    return packed ? decodeRecord(service, id, packed) : undefined;
  }

  async deregister(service: string, id: string): Promise<boolean> {
    const keys = this.#keys;
    const removed = await this.#run(
      DEREGISTER,
      [keys.rev, keys.svc(service), keys.services, keys.svcrev, keys.leases, keys.feed],
      [service, id, this.#feedLength, keys.tag],
    );
    return removed === 1;
  }

  async listServices(): Promise<ServiceCount[]> {
    const flat = (await this.#run(LIST_SERVICES, [this.#keys.services], [this.#keys.tag])) as (string | number)[];
    const services: ServiceCount[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) services.push({ name: String(flat[i]), instances: Number(flat[i + 1]) });
    return services;
  }

  async getService(service: string): Promise<ServiceState> {
    const [revision, flat] = (await this.#run(GET_SERVICE, [this.#keys.svc(service), this.#keys.svcrev], [service])) as [
      string,
      string[],
    ];
    return { name: service, revision: Number(revision), instances: decodeInstances(service, flat) };
  }

  /**
   * The whole registry at one revision. Small registries come from one script. Larger ones
   * are read in pages of `statePageSize` services, so no single script holds Redis for long
   * (a 100,000-instance registry in one script blocked it ~180 ms): first the revision R and
   * the service names, then each page atomically with every service's own last revision,
   * then the feed after R is replayed onto the pages, skipping changes a page already
   * shows. The result is exactly the registry at the last replayed revision. When the feed
   * no longer reaches back to R (trimmed under heavy writes) it falls back to one script.
   */
  async state(): Promise<RegistryState> {
    const keys = this.#keys;
    const [startRevision, names, flatRoutes] = (await this.#run(STATE_NAMES, [keys.rev, keys.services, keys.routes], [])) as [
      string,
      string[],
      string[],
    ];
    if (names.length <= this.#statePageSize) return this.#stateInOneScript();
    const routes = decodeRoutes(flatRoutes);
    names.sort();
    const services = new Map<string, ServiceState>();
    for (let i = 0; i < names.length; i += this.#statePageSize) {
      const page = (await this.#run(STATE_PAGE, [keys.svcrev], [keys.tag, ...names.slice(i, i + this.#statePageSize)])) as [
        string,
        string,
        string[],
      ][];
      for (const [name, rev, flat] of page) services.set(name, { name, revision: Number(rev), instances: decodeInstances(name, flat) });
    }
    const revision = await this.#replayFeed(Number(startRevision), services, routes);
    if (revision === undefined) return this.#stateInOneScript();
    const loaded: ServiceState[] = [];
    for (const name of [...services.keys()].sort()) {
      const service = services.get(name)!;
      if (service.instances.length > 0) loaded.push(service);
    }
    return { revision, services: loaded, routes: sortedRoutes(routes) };
  }

  async #stateInOneScript(): Promise<RegistryState> {
    const keys = this.#keys;
    const [revision, services, flatRoutes] = (await this.#run(STATE, [keys.rev, keys.services, keys.svcrev, keys.routes], [keys.tag])) as [
      string,
      [string, string, string[]][],
      string[],
    ];
    return {
      revision: Number(revision),
      services: services.map(([name, rev, flat]) => ({ name, revision: Number(rev), instances: decodeInstances(name, flat) })),
      routes: sortedRoutes(decodeRoutes(flatRoutes)),
    };
  }

  async putRoute(id: string, route: RouteBody): Promise<PutRouteResult> {
    const keys = this.#keys;
    const [kind, packed] = (await this.#run(ROUTE_PUT, [keys.rev, keys.routes, keys.feed], [id, canonicalJson(route), this.#feedLength])) as [
      string,
      string,
    ];
    return { route: decodeRoute(id, packed), created: kind === 'create' };
  }

  async getRoute(id: string): Promise<StoredRoute | undefined> {
    let packed: string | null;
    try {
      packed = await this.#client.hget(this.#keys.routes, id);
    } catch (err) {
      throw registryUnavailable(this.#topology, err);
    }
    return packed === null ? undefined : decodeRoute(id, packed);
  }

  async listRoutes(): Promise<StoredRoute[]> {
    let flat: Record<string, string>;
    try {
      flat = await this.#client.hgetall(this.#keys.routes);
    } catch (err) {
      throw registryUnavailable(this.#topology, err);
    }
    return sortedRoutes(new Map(Object.entries(flat).map(([id, packed]) => [id, decodeRoute(id, packed)])));
  }

  async deleteRoute(id: string): Promise<boolean> {
    const keys = this.#keys;
    return (await this.#run(ROUTE_DELETE, [keys.rev, keys.routes, keys.feed], [id, this.#feedLength])) === 1;
  }

  /**
   * Applies every feed entry after `from` to `services` (in place) where the service's page
   * does not already include it. Returns the last revision applied, or undefined when the
   * feed cannot prove it is complete (trimmed, or a gap).
   */
  async #replayFeed(from: number, services: Map<string, ServiceState>, routes: Map<string, StoredRoute>): Promise<number | undefined> {
    let revision = from;
    for (;;) {
      let entries: StreamEntry[];
      try {
        entries = (await this.#client.xrange(this.#keys.feed, `${revision + 1}-0`, '+', 'COUNT', REPLAY_BATCH)) as StreamEntry[];
      } catch (err) {
        throw registryUnavailable(this.#topology, err);
      }
      for (const entry of entries) {
        const event = feedEntryToEvent(entry, decodeRecord);
        if (event.revision !== revision + 1) return undefined;
        revision = event.revision;
        // Routes were read with the names, at the start revision: every later route event applies.
        if (event.type === 'route-set') routes.set(event.id, event.route!);
        if (event.type === 'route-delete') routes.delete(event.id);
        if (isRouteEvent(event)) continue;
        const page = services.get(event.service);
        if (page === undefined || page.revision < event.revision) services.set(event.service, applyEvent(page, event));
      }
      if (entries.length < REPLAY_BATCH) return revision;
    }
  }

  subscribe(fromRevision: number, handlers: FeedHandlers): FeedSubscription {
    if (this.#closed) throw new WaypostError(ErrorCodes.CLOSED, 'registry store is closed');
    const reader: RedisFeedReader = new RedisFeedReader({
      client: createRedisClient(this.#topology, this.#log, 'feed', this.#tuning, true),
      feedKey: this.#keys.feed,
      fromRevision,
      handlers,
      decode: decodeRecord,
      logger: this.#log,
      onClose: () => this.#readers.delete(reader),
    });
    this.#readers.add(reader);
    return reader;
  }

  async sweep(): Promise<SweepResult> {
    const keys = this.#keys;
    const { selfPreservation, selfPreservationMinInstances } = this.#policy;
    const [expired, held] = (await this.#run(
      SWEEP,
      [keys.rev, keys.services, keys.svcrev, keys.leases, keys.feed],
      [keys.tag, String(selfPreservation), String(selfPreservationMinInstances), this.#feedLength, String(this.#maxDuePerSweep)],
      0,
    )) as [number, [string, number, number][]];
    return {
      expired: Number(expired),
      held: held.map(([service, wouldExpire, instances]) => ({ service, wouldExpire: Number(wouldExpire), instances: Number(instances) })),
    };
  }

  async #connect(): Promise<void> {
    const client = this.#client;
    let lastError = '';
    const onError = (err: Error): void => void (lastError = err.message);
    client.on('error', onError);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          client.off('ready', onReady);
          reject(
            new WaypostError(
              ErrorCodes.STARTUP,
              `cannot reach Redis at ${this.#target} within ${this.#startTimeoutMs} ms${lastError ? `: ${lastError}` : ''}`,
            ),
          );
        }, this.#startTimeoutMs);
        const onReady = (): void => {
          clearTimeout(timer);
          resolve();
        };
        client.once('ready', onReady);
        // connect() rejects on the first failed attempt while ioredis keeps retrying; the timer decides.
        client.connect().catch((err: unknown) => void (lastError = describeError(err)));
      });
    } catch (err) {
      client.disconnect();
      throw err;
    } finally {
      client.off('error', onError);
    }
    this.#log.info({ target: this.#target }, 'registry connected');
  }

  #scheduleSweep(): void {
    this.#sweepTimer = setTimeout(() => {
      this.sweep().then(
        (result) => {
          // Debug only: the owner (the app's onSweep) warns once when a service starts being held, not every tick.
          if (result.held.length > 0) this.#log.debug({ held: result.held }, 'self-preservation holding expiry');
          this.#onSweep?.(result);
        },
        (err: unknown) => this.#log.debug({ err: describeError(err) }, 'lease sweep failed'),
      ).finally(() => {
        if (!this.#closed) this.#scheduleSweep();
      });
    }, this.#policy.sweepIntervalMs);
    this.#sweepTimer.unref();
  }

  /**
   * Run a script, retrying for `retryMs` while the command could not be sent
   * (disconnected, failover in progress); then reject with registry_unavailable.
   */
  async #run(script: LuaScript, keys: string[], args: string[], retryMs = this.#writeRetryMs): Promise<unknown> {
    const deadline = Date.now() + retryMs;
    for (;;) {
      if (this.#closed) throw new WaypostError(ErrorCodes.CLOSED, 'registry store is closed');
      try {
        return await this.#eval(script, keys, args);
      } catch (err) {
        const message = describeError(err);
        const isReply = (err as { name?: string }).name === 'ReplyError';
        if (isReply && !TRANSIENT_REPLY.test(message)) throw err;
        const retryable = isReply || NOT_SENT.test(message);
        if (!retryable || Date.now() >= deadline) {
          throw registryUnavailable(this.#topology, err);
        }
        await new Promise((resolve) => setTimeout(resolve, 100).unref());
      }
    }
  }

  async #eval(script: LuaScript, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.#client.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (err) {
      // Script cache is empty after a restart or failover: send the source once.
      if (!describeError(err).startsWith('NOSCRIPT')) throw err;
      return this.#client.eval(script.lua, keys.length, ...keys, ...args);
    }
  }
}

/** Canonical JSON of the fields scripts never change, so equal input gives an equal string. */
function encodeBody(input: RegistrationInput): string {
  const metadata = input.metadata ?? {};
  const sorted: Record<string, string> = {};
  for (const key of Object.keys(metadata).sort()) sorted[key] = metadata[key]!;
  // protocol is left out while it is the default, so bodies written before the field existed stay equal.
  const body: Record<string, unknown> = { host: input.host, port: input.port, zone: input.zone ?? '', tags: input.tags ?? [], metadata: sorted };
  if (input.protocol !== undefined && input.protocol !== 'http1') body.protocol = input.protocol;
  // Left out when empty, like protocol, so bodies written before declared routes stay equal.
  if (input.routes !== undefined && input.routes.length > 0) body.routes = input.routes;
  return JSON.stringify(body);
}

/** `expiresAt|registeredAt|ttl|weight|status|body` → a frozen record (see redis-scripts.ts). */
export function decodeRecord(service: string, id: string, packed: string): InstanceRecord {
  const parts = packed.split('|');
  const [expiresAt, registeredAt, ttl, weight, status] = parts;
  const body = JSON.parse(parts.slice(5).join('|')) as {
    host: string;
    port: number;
    zone: string;
    tags: string[];
    metadata: Record<string, string>;
    protocol?: InstanceProtocol;
    routes?: DeclaredRoute[];
  };
  return Object.freeze({
    id,
    service,
    host: body.host,
    port: body.port,
    weight: Number(weight),
    zone: body.zone,
    tags: Object.freeze(body.tags),
    metadata: Object.freeze(body.metadata),
    status: status as InstanceStatus,
    protocol: body.protocol ?? 'http1',
    ttl: Number(ttl),
    ...(body.routes === undefined ? {} : { routes: frozenDeclaredRoutes(body.routes) }),
    registeredAt: new Date(Number(registeredAt)).toISOString(),
    leaseExpiresAt: new Date(Number(expiresAt)).toISOString(),
  });
}

function decodeInstances(service: string, flat: string[]): InstanceRecord[] {
  const records: InstanceRecord[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) records.push(decodeRecord(service, flat[i]!, flat[i + 1]!));
  return records.sort(byId);
}

function decodeRoutes(flat: string[]): Map<string, StoredRoute> {
  const routes = new Map<string, StoredRoute>();
  for (let i = 0; i + 1 < flat.length; i += 2) routes.set(flat[i]!, decodeRoute(flat[i]!, flat[i + 1]!));
  return routes;
}

function sortedRoutes(routes: Map<string, StoredRoute>): StoredRoute[] {
  return [...routes.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
