/**
 * RegistryMirror: this process's live, in-memory copy of the registry. The
 * request path reads only from here (no Redis call per request).
 *
 * It follows the store's change feed (store.subscribe; the Redis store backs it
 * with a Redis Stream, which unlike pub/sub can be replayed from a revision after
 * a short disconnect) and reloads `state()` in full whenever the store says it
 * cannot prove the mirror saw every change (reconnect, trimmed feed) or the
 * mirror itself sees a revision gap.
 *
 * Why immutable per-service states swapped by one assignment: a reader on the
 * request path never sees a half-applied change. Node is single-threaded, but a
 * request may hold a ServiceState across awaits (a retry, a slow upstream); it
 * keeps a consistent picture while the mirror moves on. Applying an event builds
 * a new ServiceState for that one service (O(its instances)); a resync builds a
 * whole new map and swaps it in with one assignment.
 */
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { isRouteEvent, type ChangeEvent, type FeedSubscription, type RegistryStore, type ServiceState, type StoredRoute } from '../registry/store.js';
import { applyEvent, buildServiceMap, emptyService } from '../registry/snapshot.js';

export type ChangeListener = (service: string, state: ServiceState | undefined) => void;

export interface RegistryMirrorOptions {
  store: RegistryStore;
  logger: Logger;
  metrics?: Metrics;
  /** @default systemClock */
  clock?: Clock;
  /** First delay before retrying a failed resync; doubles up to `resyncMaxDelayMs`. @default 100 */
  resyncInitialDelayMs?: number;
  /** @default 5000 */
  resyncMaxDelayMs?: number;
}

interface ServiceWaiter {
  readonly afterRevision: number;
  readonly resolve: (state: ServiceState) => void;
}

interface RevisionWaiter {
  readonly revision: number;
  readonly resolve: (reached: boolean) => void;
}

export class RegistryMirror {
  readonly #store: RegistryStore;
  readonly #log: Logger;
  readonly #metrics: Metrics | undefined;
  readonly #clock: Clock;
  readonly #resyncInitialDelayMs: number;
  readonly #resyncMaxDelayMs: number;

  /** Replaced whole on resync; single entries replaced on events. Never mutated otherwise. */
  #services = new Map<string, ServiceState>();
  /** API routes by id; replaced whole when one changes (route changes are rare, reads are not). */
  #routes: ReadonlyMap<string, StoredRoute> = new Map();
  #revision = 0;
  #synced = false;
  #connected = false;
  #closed = false;
  #subscription: FeedSubscription | undefined;

  /** A resync is loading; events are dropped meanwhile (resume() replays them). */
  #resyncing = false;
  /** Another reset arrived while loading: load again once the current one ends. */
  #resyncAgain = false;
  #resyncTimer: TimerHandle | undefined;

  readonly #listeners = new Set<ChangeListener>();
  readonly #routeListeners = new Set<() => void>();
  readonly #serviceWaiters = new Map<string, Set<ServiceWaiter>>();
  readonly #revisionWaiters = new Set<RevisionWaiter>();

  constructor(options: RegistryMirrorOptions) {
    this.#store = options.store;
    this.#log = options.logger.child({ component: 'mirror' });
    this.#metrics = options.metrics;
    this.#clock = options.clock ?? systemClock;
    this.#resyncInitialDelayMs = options.resyncInitialDelayMs ?? 100;
    this.#resyncMaxDelayMs = options.resyncMaxDelayMs ?? 5000;
  }

  /** Loads the registry and follows its feed; resolves once the first snapshot is in place. */
  async start(): Promise<void> {
    if (this.#subscription) return;
    const state = await this.#store.state();
    if (this.#closed) return;
    this.#services = buildServiceMap(state);
    this.#routes = routeMap(state.routes);
    this.#revision = state.revision;
    this.#synced = true;
    this.#setConnected(this.#store.connected);
    this.#subscription = this.#store.subscribe(state.revision, {
      onEvents: (events) => this.#applyEvents(events),
      onReset: (reason) => this.#requestResync(reason),
      onConnectionChange: (connected) => this.#setConnected(connected),
    });
    this.#wakeRevisionWaiters();
    this.#log.info({ revision: state.revision, services: this.#services.size }, 'registry mirror synced');
  }

  /** O(1). A service whose last instance left is kept, empty, until the next full resync. */
  service(name: string): ServiceState | undefined {
    return this.#services.get(name);
  }

  services(): Iterable<ServiceState> {
    return this.#services.values();
  }

  /** The API routes (PUT /v1/routes/{id}) by id: an immutable map, replaced on every route change. */
  routes(): ReadonlyMap<string, StoredRoute> {
    return this.#routes;
  }

  /** Called once per applied batch that changed an API route, and after every resync. */
  onRoutesChange(listener: () => void): () => void {
    this.#routeListeners.add(listener);
    return () => this.#routeListeners.delete(listener);
  }

  /** Highest registry revision applied. */
  get revision(): number {
    return this.#revision;
  }

  /** true once the first snapshot was loaded; stays true while the backend is down (the last snapshot serves). */
  get synced(): boolean {
    return this.#synced;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Called after each change to a service (and, on resync, for every service that differs). */
  onChange(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * The service once its revision is above `afterRevision`, or its current (maybe
   * empty) state when `timeoutMs` passes, `signal` aborts or the mirror closes.
   */
  waitForChange(service: string, afterRevision: number, timeoutMs: number, signal?: AbortSignal): Promise<ServiceState> {
    const current = () => this.#services.get(service) ?? emptyService(service);
    const now = current();
    if (now.revision > afterRevision || this.#closed || signal?.aborted) return Promise.resolve(now);
    return new Promise((resolve) => {
      let waiters = this.#serviceWaiters.get(service);
      if (!waiters) this.#serviceWaiters.set(service, (waiters = new Set()));
      const set = waiters;
      const finish = (state: ServiceState) => {
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
        set.delete(waiter);
        if (set.size === 0 && this.#serviceWaiters.get(service) === set) this.#serviceWaiters.delete(service);
        resolve(state);
      };
      const onAbort = () => finish(current());
      const waiter: ServiceWaiter = { afterRevision, resolve: finish };
      const timer = this.#clock.setTimer(() => finish(current()), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      set.add(waiter);
    });
  }

  /**
   * true once the mirror has applied at least `revision` (read-your-writes); false after
   * `timeoutMs`, or when `signal` aborts (the waiting client left).
   */
  waitForRevision(revision: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.#revision >= revision) return Promise.resolve(true);
    if (this.#closed || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const finish = (reached: boolean) => {
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
        this.#revisionWaiters.delete(waiter);
        resolve(reached);
      };
      const onAbort = () => finish(false);
      const waiter: RevisionWaiter = { revision, resolve: finish };
      const timer = this.#clock.setTimer(() => finish(false), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#revisionWaiters.add(waiter);
    });
  }

  /** Stops following the feed and answers every waiter with what is known now; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#resyncTimer?.cancel();
    this.#subscription?.close();
    this.#subscription = undefined;
    for (const [service, waiters] of [...this.#serviceWaiters]) {
      const state = this.#services.get(service) ?? emptyService(service);
      for (const waiter of [...waiters]) waiter.resolve(state);
    }
    for (const waiter of [...this.#revisionWaiters]) waiter.resolve(this.#revision >= waiter.revision);
  }

  #applyEvents(events: readonly ChangeEvent[]): void {
    if (this.#closed || this.#resyncing) return;
    // Both ends on the registry clock: `at` is registry time (Redis TIME), so shift local time by the store's offset estimate.
    const now = this.#clock.now() + (this.#store.clockOffsetMs ?? 0);
    const changed = new Set<string>();
    let routes: Map<string, StoredRoute> | undefined;
    for (const event of events) {
      // Replays after a resume() may repeat what a resync already loaded.
      if (event.revision <= this.#revision) continue;
      if (event.revision !== this.#revision + 1) {
        this.#requestResync(`revision gap: expected ${this.#revision + 1}, got ${event.revision}`);
        break;
      }
      if (isRouteEvent(event)) {
        routes ??= new Map(this.#routes);
        if (event.route) routes.set(event.id, event.route);
        else routes.delete(event.id);
      } else {
        this.#services.set(event.service, applyEvent(this.#services.get(event.service), event));
        changed.add(event.service);
      }
      this.#revision = event.revision;
      this.#metrics?.registryEvents.inc({ type: event.type });
      this.#metrics?.registryPropagation.observe(Math.max(0, now - event.at) / 1000);
    }
    if (routes) this.#routes = routes;
    for (const service of changed) this.#notify(service, this.#services.get(service));
    if (routes) this.#notifyRoutes();
    this.#wakeRevisionWaiters();
  }

  #requestResync(reason: string): void {
    if (this.#closed) return;
    if (this.#resyncing) {
      this.#resyncAgain = true;
      return;
    }
    this.#log.info({ reason }, 'registry mirror resync requested');
    this.#resyncing = true;
    void this.#resync(this.#resyncInitialDelayMs);
  }

  async #resync(retryDelayMs: number): Promise<void> {
    this.#resyncTimer = undefined;
    if (this.#closed) return;
    this.#resyncAgain = false;
    let state;
    try {
      state = await this.#store.state();
    } catch (err) {
      if (this.#closed) return;
      // Keep serving the last snapshot; try again later.
      this.#log.warn({ err: describeError(err), retryInMs: retryDelayMs }, 'registry mirror resync failed');
      this.#resyncTimer = this.#clock.setTimer(
        () => void this.#resync(Math.min(retryDelayMs * 2, this.#resyncMaxDelayMs)),
        retryDelayMs,
      );
      return;
    }
    if (this.#closed) return;
    if (this.#resyncAgain) {
      void this.#resync(this.#resyncInitialDelayMs);
      return;
    }
    if (state.revision < this.#revision) {
      // The registry forgot changes this mirror saw (a replica promoted before it had them, a
      // restart without persistence). Redis is the source of truth, so the mirror follows it;
      // this line says why routes vanished (clients must register again).
      this.#log.error({ revision: this.#revision, registryRevision: state.revision }, 'registry revision went backwards; changes were lost');
    }
    const previous = this.#services;
    const next = buildServiceMap(state);
    this.#services = next;
    this.#routes = routeMap(state.routes);
    this.#revision = state.revision;
    this.#resyncing = false;
    this.#metrics?.registryEvents.inc({ type: 'resync' });
    this.#log.info({ revision: state.revision, services: next.size }, 'registry mirror resynced');
    this.#subscription?.resume(state.revision);

    for (const [name, after] of next) {
      const before = previous.get(name);
      if (!before || before.revision !== after.revision || before.instances.length !== after.instances.length) {
        this.#notify(name, after);
      }
    }
    for (const [name] of previous) {
      // Gone entirely: waiters learn it through an empty state at the resync's revision.
      if (!next.has(name)) this.#notify(name, undefined, emptyService(name, state.revision));
    }
    this.#notifyRoutes();
    this.#wakeRevisionWaiters();
  }

  #notify(service: string, state: ServiceState | undefined, waiterState = state): void {
    for (const listener of this.#listeners) {
      try {
        listener(service, state);
      } catch (err) {
        this.#log.error({ err: describeError(err), service }, 'registry mirror listener failed');
      }
    }
    const waiters = this.#serviceWaiters.get(service);
    if (!waiters || !waiterState) return;
    for (const waiter of [...waiters]) {
      if (waiterState.revision > waiter.afterRevision) waiter.resolve(waiterState);
    }
  }

  #notifyRoutes(): void {
    for (const listener of this.#routeListeners) {
      try {
        listener();
      } catch (err) {
        this.#log.error({ err: describeError(err) }, 'registry mirror route listener failed');
      }
    }
  }

  #wakeRevisionWaiters(): void {
    if (this.#revisionWaiters.size === 0) return;
    for (const waiter of [...this.#revisionWaiters]) {
      if (this.#revision >= waiter.revision) waiter.resolve(true);
    }
  }

  #setConnected(connected: boolean): void {
    this.#metrics?.registryConnected.set(connected ? 1 : 0);
    if (connected === this.#connected) return;
    this.#connected = connected;
    this.#log.info({ connected }, 'registry connection changed');
  }
}

function routeMap(routes: readonly StoredRoute[] | undefined): ReadonlyMap<string, StoredRoute> {
  return new Map((routes ?? []).map((route) => [route.id, route]));
}
