/**
 * The embedded registry: one process, zero setup. Everything lives in maps; the
 * change feed is a bounded in-memory log delivered to subscribers in a microtask,
 * so a subscriber never runs inside the writer's call stack.
 */
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { ErrorCodes, WaypostError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import type { InstanceRecord, InstanceStatus, RegistrationInput } from '../types.js';
import {
  generateInstanceId,
  instanceLimitMessage,
  leasePolicy,
  shouldHoldExpiry,
  type LeasePolicy,
  type StoreOptions,
} from './lease.js';
import type {
  ChangeEvent,
  ChangeType,
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
import { sameFields } from './record.js';
import { canonicalJson, declaredRouteKey, frozenDeclaredRoutes, routeConflict, type RouteBody } from './routes.js';
import { DEFAULT_WEIGHT } from './validate.js';

export interface MemoryStoreOptions extends StoreOptions {
  /** @default systemClock */
  clock?: Clock;
  /** Feed entries kept for subscribers that fall behind. @default 100000 */
  feedLength?: number;
}

interface Entry {
  record: InstanceRecord;
  expiresAt: number;
}

interface Subscriber {
  handlers: FeedHandlers;
  /** Last revision delivered (or resumed from). */
  position: number;
  /** Waiting for resume() after onReset. */
  paused: boolean;
  closed: boolean;
}

export class MemoryStore implements RegistryStore {
  readonly kind = 'memory' as const;
  readonly #clock: Clock;
  readonly #policy: LeasePolicy;
  readonly #feedLength: number;
  readonly #onSweep: ((result: SweepResult) => void) | undefined;
  readonly #log: Logger;
  readonly #services = new Map<string, Map<string, Entry>>();
  readonly #serviceRevisions = new Map<string, number>();
  readonly #routes = new Map<string, { stored: StoredRoute; json: string }>();
  /** Declared route key → the one service declaring it, and how many of its instances do. */
  readonly #routeOwners = new Map<string, { service: string; count: number }>();
  #revision = 0;
  /** Contiguous revisions: #feed[i].revision === #feed[0].revision + i. */
  #feed: ChangeEvent[] = [];
  readonly #subscribers = new Set<Subscriber>();
  #flushQueued = false;
  #sweepTimer: TimerHandle | undefined;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#policy = leasePolicy(options);
    this.#feedLength = options.feedLength ?? 100_000;
    this.#onSweep = options.onSweep;
    this.#log = (options.logger ?? silentLogger).child({ component: 'memory-store' });
  }

  get connected(): boolean {
    return !this.#closed;
  }

  async start(): Promise<void> {
    if (this.#closed) throw new WaypostError(ErrorCodes.CLOSED, 'registry store is closed');
    if (this.#sweepTimer) return;
    this.#scheduleSweep();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#sweepTimer?.cancel();
    this.#sweepTimer = undefined;
    for (const subscriber of this.#subscribers) subscriber.closed = true;
    this.#subscribers.clear();
  }

  async register(input: RegistrationInput): Promise<RegisterResult> {
    this.#assertOpen();
    const now = this.#clock.now();
    const id = input.id ?? generateInstanceId(input.service);
    const instances = this.#services.get(input.service) ?? new Map<string, Entry>();
    const previous = instances.get(id);
    if (!previous && instances.size >= this.#policy.maxInstancesPerService) {
      throw new WaypostError(ErrorCodes.LIMIT_EXCEEDED, instanceLimitMessage(input.service, this.#policy.maxInstancesPerService));
    }
    for (const route of input.routes ?? []) {
      const owner = this.#routeOwners.get(declaredRouteKey(route));
      if (owner !== undefined && owner.service !== input.service) throw routeConflict(input.service, declaredRouteKey(route), owner.service);
    }
    const ttl = input.ttl ?? this.#policy.defaultTtlSeconds;
    const expiresAt = now + ttl * 1000;
    const record = freezeRecord({
      id,
      service: input.service,
      host: input.host,
      port: input.port,
      weight: input.weight ?? DEFAULT_WEIGHT,
      zone: input.zone ?? '',
      tags: input.tags ?? [],
      metadata: input.metadata ?? {},
      status: input.status ?? 'UP',
      protocol: input.protocol ?? 'http1',
      ttl,
      ...(input.routes?.length ? { routes: input.routes } : {}),
      registeredAt: previous ? previous.record.registeredAt : new Date(now).toISOString(),
      leaseExpiresAt: new Date(expiresAt).toISOString(),
    });
    if (previous) this.#releaseRoutes(previous.record);
    this.#claimRoutes(record);
    instances.set(id, { record, expiresAt });
    this.#services.set(input.service, instances);
    if (!previous) this.#emit('register', record.service, id, now, record);
    else if (!sameFields(previous.record, record)) this.#emit('update', record.service, id, now, record);
    return { record, created: !previous };
  }

  async renew(service: string, id: string, options: { weight?: number } = {}): Promise<InstanceRecord | undefined> {
    this.#assertOpen();
    const now = this.#clock.now();
    const entry = this.#services.get(service)?.get(id);
    // An expired lease stays dead even before the sweep removes it: the client registers again.
    if (!entry || entry.expiresAt <= now) return undefined;
    const expiresAt = now + entry.record.ttl * 1000;
    const weightChanged = options.weight !== undefined && options.weight !== entry.record.weight;
    const weight = options.weight ?? entry.record.weight;
    const record = freezeRecord({ ...entry.record, weight, leaseExpiresAt: new Date(expiresAt).toISOString() });
    entry.record = record;
    entry.expiresAt = expiresAt;
    if (weightChanged) this.#emit('update', service, id, now, record);
    return record;
  }

  async setStatus(service: string, id: string, status: InstanceStatus): Promise<InstanceRecord | undefined> {
    this.#assertOpen();
    const entry = this.#services.get(service)?.get(id);
    if (!entry) return undefined;
    if (entry.record.status === status) return entry.record;
    entry.record = freezeRecord({ ...entry.record, status });
    this.#emit('status', service, id, this.#clock.now(), entry.record);
    return entry.record;
  }

  async deregister(service: string, id: string): Promise<boolean> {
    this.#assertOpen();
    if (!this.#remove(service, id)) return false;
    this.#emit('deregister', service, id, this.#clock.now());
    return true;
  }

  async listServices(): Promise<ServiceCount[]> {
    return [...this.#services.entries()]
      .map(([name, instances]) => ({ name, instances: instances.size }))
      .sort((a, b) => compare(a.name, b.name));
  }

  async getService(service: string): Promise<ServiceState> {
    return this.#serviceState(service);
  }

  async state(): Promise<RegistryState> {
    const services = [...this.#services.keys()].sort(compare).map((name) => this.#serviceState(name));
    return { revision: this.#revision, services, routes: await this.listRoutes() };
  }

  async putRoute(id: string, route: RouteBody): Promise<PutRouteResult> {
    this.#assertOpen();
    const json = canonicalJson(route);
    const previous = this.#routes.get(id);
    if (previous?.json === json) return { route: previous.stored, created: false };
    const stored: StoredRoute = Object.freeze({ id, route: JSON.parse(json) as RouteBody, revision: this.#revision + 1 });
    this.#routes.set(id, { stored, json });
    this.#push({ revision: stored.revision, type: 'route-set', service: '', id, route: stored, at: this.#clock.now() });
    return { route: stored, created: previous === undefined };
  }

  async getRoute(id: string): Promise<StoredRoute | undefined> {
    return this.#routes.get(id)?.stored;
  }

  async listRoutes(): Promise<StoredRoute[]> {
    return [...this.#routes.values()].map((r) => r.stored).sort((a, b) => compare(a.id, b.id));
  }

  async deleteRoute(id: string): Promise<boolean> {
    this.#assertOpen();
    if (!this.#routes.delete(id)) return false;
    this.#push({ revision: this.#revision + 1, type: 'route-delete', service: '', id, at: this.#clock.now() });
    return true;
  }

  subscribe(fromRevision: number, handlers: FeedHandlers): FeedSubscription {
    const subscriber: Subscriber = { handlers, position: fromRevision, paused: false, closed: this.#closed };
    if (!this.#closed) this.#subscribers.add(subscriber);
    queueMicrotask(() => {
      if (!subscriber.closed) handlers.onConnectionChange?.(true);
    });
    this.#queueFlush();
    return {
      resume: (revision: number) => {
        subscriber.position = revision;
        subscriber.paused = false;
        this.#queueFlush();
      },
      close: () => {
        subscriber.closed = true;
        this.#subscribers.delete(subscriber);
      },
    };
  }

  async sweep(): Promise<SweepResult> {
    if (this.#closed) return { expired: 0, held: [] };
    const now = this.#clock.now();
    let expired = 0;
    const held: SweepResult['held'][number][] = [];
    // One pass that allocates only for services with a due lease (most ticks: none); those
    // are then handled in name order, ids sorted, as the Redis store does.
    const dueByService: [string, string[]][] = [];
    for (const [service, instances] of this.#services) {
      let due: string[] | undefined;
      for (const entry of instances.values()) if (entry.expiresAt <= now) (due ??= []).push(entry.record.id);
      if (due !== undefined) dueByService.push([service, due]);
    }
    dueByService.sort(([a], [b]) => compare(a, b));
    const { selfPreservation, selfPreservationMinInstances } = this.#policy;
    for (const [service, due] of dueByService) {
      const instances = this.#services.get(service)!;
      if (shouldHoldExpiry(due.length, instances.size, selfPreservation, selfPreservationMinInstances)) {
        held.push({ service, wouldExpire: due.length, instances: instances.size });
        continue;
      }
      for (const id of due.sort(compare)) {
        this.#remove(service, id);
        this.#emit('expire', service, id, now);
        expired += 1;
      }
    }
    return { expired, held };
  }

  #scheduleSweep(): void {
    this.#sweepTimer = this.#clock.setTimer(() => {
      if (this.#closed) return;
      void this.sweep().then(
        (result) => {
          // Debug only: the owner (the app's onSweep) warns once when a service starts being held, not every tick.
          if (result.held.length > 0) this.#log.debug({ held: result.held }, 'self-preservation holding expiry');
          this.#onSweep?.(result);
        },
        (err: unknown) => this.#log.warn({ err }, 'lease sweep failed'),
      );
      this.#scheduleSweep();
    }, this.#policy.sweepIntervalMs);
  }

  #serviceState(name: string): ServiceState {
    const instances = [...(this.#services.get(name)?.values() ?? [])]
      .map((entry) => entry.record)
      .sort((a, b) => compare(a.id, b.id));
    return { name, revision: this.#serviceRevisions.get(name) ?? 0, instances };
  }

  #remove(service: string, id: string): boolean {
    const instances = this.#services.get(service);
    const entry = instances?.get(id);
    if (!instances || !entry) return false;
    instances.delete(id);
    this.#releaseRoutes(entry.record);
    if (instances.size === 0) this.#services.delete(service);
    return true;
  }

  #claimRoutes(record: InstanceRecord): void {
    for (const route of record.routes ?? []) {
      const key = declaredRouteKey(route);
      const owner = this.#routeOwners.get(key);
      if (owner) owner.count += 1;
      else this.#routeOwners.set(key, { service: record.service, count: 1 });
    }
  }

  #releaseRoutes(record: InstanceRecord): void {
    for (const route of record.routes ?? []) {
      const key = declaredRouteKey(route);
      const owner = this.#routeOwners.get(key);
      if (owner && --owner.count <= 0) this.#routeOwners.delete(key);
    }
  }

  #emit(type: ChangeType, service: string, id: string, at: number, instance?: InstanceRecord): void {
    const revision = this.#revision + 1;
    this.#serviceRevisions.set(service, revision);
    this.#push(instance ? { revision, type, service, id, instance, at } : { revision, type, service, id, at });
  }

  /** Appends the next revision's event to the feed. */
  #push(fields: ChangeEvent): void {
    this.#revision = fields.revision;
    const event: ChangeEvent = Object.freeze(fields);
    this.#feed.push(event);
    // Trim in chunks (like Redis MAXLEN ~) so a full feed does not copy itself on every write.
    if (this.#feed.length > this.#feedLength + Math.ceil(this.#feedLength / 8)) {
      this.#feed = this.#feed.slice(this.#feed.length - this.#feedLength);
    }
    this.#queueFlush();
  }

  #queueFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      for (const subscriber of this.#subscribers) this.#deliver(subscriber);
    });
  }

  #deliver(subscriber: Subscriber): void {
    if (subscriber.paused || subscriber.closed || subscriber.position >= this.#revision) return;
    const oldest = this.#feed[0]?.revision ?? this.#revision + 1;
    if (subscriber.position + 1 < oldest) {
      subscriber.paused = true;
      subscriber.handlers.onReset('trimmed');
      return;
    }
    const events = this.#feed.slice(subscriber.position + 1 - oldest);
    subscriber.position = this.#revision;
    subscriber.handlers.onEvents(events);
  }

  #assertOpen(): void {
    if (this.#closed) throw new WaypostError(ErrorCodes.CLOSED, 'registry store is closed');
  }
}

function freezeRecord(record: InstanceRecord): InstanceRecord {
  const frozen = { ...record, tags: Object.freeze([...record.tags]), metadata: Object.freeze({ ...record.metadata }) };
  return Object.freeze(record.routes === undefined ? frozen : { ...frozen, routes: frozenDeclaredRoutes(record.routes) });
}

/** Code-unit order, the same order Redis and every process agree on. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
