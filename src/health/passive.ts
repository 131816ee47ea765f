/**
 * Passive outlier detection: the forwarders report each attempt (OutcomeListener)
 * and an instance with `consecutiveFailures` gateway failures in a row (connect
 * refused/timeout, reset, header timeout, protocol error, or a 5xx answer) is
 * ejected from new traffic.
 *
 * - Length: baseEjection × 2^(n-1), capped at maxEjection, where n counts this
 *   instance's ejections; n drops by one for every quiet period (maxEjection)
 *   after its last return without a new ejection, so an instance that behaved for a while starts short again.
 * - maxEjectionPercent: an ejection that would put more than that share of the
 *   service's registered instances out at once is refused (3 instances at 50 %
 *   → at most 1 ejected). Panic mode in EndpointSets is the second safety net.
 * - Return: the pool keeps `ejectedUntil`; EndpointSets rebuilds the set when the
 *   earliest ejection ends (its `validUntil`), so no timer is needed for routing.
 *   A timer here logs the return and tells the pool's health listeners (panic gauge).
 * - A success resets the failure count. While an instance is ejected its outcomes
 *   (panic-mode traffic) are ignored, so they do not stretch the ejection.
 *
 * The request path costs one WeakMap lookup per attempt; the scan over a
 * service's instances (for the percentage) runs only when an ejection is due.
 */
import type { Endpoint, EndpointStats, OutcomeListener } from '../endpoint.js';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import type { PassiveHealthConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { ServiceState } from '../registry/store.js';
import { isEjected } from './eligibility.js';
import type { EndpointPool } from './state.js';

/** Failure reasons that say the instance (not the client, not us) is in trouble. */
const GATEWAY_FAILURES: ReadonlySet<string> = new Set([
  'connect_refused',
  'connect_timeout',
  'header_timeout',
  'reset',
  'protocol',
  'status_5xx',
]);

export interface ServiceLookup {
  service(name: string): ServiceState | undefined;
}

/** One ejection as other proxies hear about it (shared-ejections.ts). */
export interface EjectionNotice {
  service: string;
  id: string;
  /** Length of the ejection from the moment it was decided (ms). */
  durationMs: number;
  /** How many times the deciding proxy has ejected this instance (backoff level). */
  ejections: number;
  /** Why, in words, from the deciding process (for the dashboard's health history; absent from older peers). */
  reason?: string;
}

/** An ejection applied here, decided locally or shared by another proxy or worker (the dashboard's health history). */
export interface EjectionApplied extends EjectionNotice {
  /** Why, in words: the failures that decided it, or where a shared one came from. */
  readonly reason: string;
}

export interface OutlierDetectorOptions {
  pool: EndpointPool;
  services: ServiceLookup;
  config: Pick<PassiveHealthConfig, 'consecutiveFailures' | 'baseEjection' | 'maxEjection' | 'maxEjectionPercent'>;
  metrics?: Metrics;
  logger: Logger;
  /** @default systemClock */
  clock?: Clock;
  /** Called for every ejection this proxy decides (to share it). */
  onEject?: (notice: EjectionNotice) => void;
}

interface OutlierState {
  failures: number;
  /** Backoff level n (ejections so far, after decay). */
  ejections: number;
  /** When the last ejection ended or ends (ms), for decay. */
  returnsAt: number;
  returnTimer: TimerHandle | undefined;
}

export class OutlierDetector implements OutcomeListener {
  readonly #pool: EndpointPool;
  readonly #services: ServiceLookup;
  #threshold: number;
  #baseMs: number;
  #maxMs: number;
  #maxPercent: number;
  readonly #metrics: Metrics | undefined;
  readonly #log: Logger;
  readonly #clock: Clock;
  /** Told of every ejection this proxy decides: Redis sharing, the cluster relay. */
  readonly #ejectListeners = new Set<(notice: EjectionNotice) => void>();
  readonly #appliedListeners = new Set<(ejection: EjectionApplied) => void>();
  /** Keyed by the pool's stats object: it lives exactly as long as the instance. */
  readonly #states = new WeakMap<EndpointStats, OutlierState>();
  readonly #timers = new Set<TimerHandle>();
  #closed = false;

  constructor(options: OutlierDetectorOptions) {
    this.#pool = options.pool;
    this.#services = options.services;
    this.#threshold = options.config.consecutiveFailures;
    this.#baseMs = options.config.baseEjection;
    this.#maxMs = Math.max(options.config.maxEjection, options.config.baseEjection);
    this.#maxPercent = options.config.maxEjectionPercent;
    this.#metrics = options.metrics;
    this.#log = options.logger.child({ component: 'outlier-detection' });
    this.#clock = options.clock ?? systemClock;
    if (options.onEject) this.#ejectListeners.add(options.onEject);
  }

  /**
   * A reloaded `health.passive`: the thresholds apply to the next failure counted and the
   * next ejection decided; instances ejected now return when their ejection ends.
   */
  reconfigure(config: PassiveHealthConfig): void {
    this.#threshold = config.consecutiveFailures;
    this.#baseMs = config.baseEjection;
    this.#maxMs = Math.max(config.maxEjection, config.baseEjection);
    this.#maxPercent = config.maxEjectionPercent;
  }

  /** false when `consecutiveFailures` is 0 (detection off). */
  get enabled(): boolean {
    return this.#threshold > 0;
  }

  /** Shares this proxy's own ejections (not those applied by applyShared); returns the remover. */
  addEjectListener(listener: (notice: EjectionNotice) => void): () => void {
    this.#ejectListeners.add(listener);
    return () => this.#ejectListeners.delete(listener);
  }

  /** Told of every ejection applied here, local or shared, with its reason; returns the remover. */
  onEjectionApplied(listener: (ejection: EjectionApplied) => void): () => void {
    this.#appliedListeners.add(listener);
    return () => this.#appliedListeners.delete(listener);
  }

  onSuccess(endpoint: Endpoint): void {
    const state = this.#states.get(endpoint.stats);
    if (state !== undefined && state.failures !== 0) state.failures = 0;
  }

  onFailure(endpoint: Endpoint, reason: string): void {
    if (this.#closed || this.#threshold <= 0 || !GATEWAY_FAILURES.has(reason)) return;
    let state = this.#states.get(endpoint.stats);
    if (state === undefined) {
      state = { failures: 0, ejections: 0, returnsAt: 0, returnTimer: undefined };
      this.#states.set(endpoint.stats, state);
    }
    const { service, id } = endpoint.instance;
    const now = this.#clock.now();
    if (isEjected(this.#pool.peek(service, id), now)) return;
    state.failures += 1;
    if (state.failures < this.#threshold) return;
    // Counting starts over either way: a refused ejection is retried after another full run of failures.
    state.failures = 0;
    if (!this.#hasRoom(service, id, now)) {
      this.#log.warn({ service, id, reason, maxEjectionPercent: this.#maxPercent }, 'ejection refused: max ejection percent reached');
      return;
    }
    state.ejections = this.#decayed(state, now) + 1;
    const durationMs = Math.min(this.#maxMs, this.#baseMs * 2 ** (state.ejections - 1));
    this.#apply(service, id, now + durationMs, state);
    this.#metrics?.ejections.inc({ service });
    this.#log.warn({ service, id, reason, failures: this.#threshold, ejections: state.ejections, durationMs }, 'instance ejected');
    const notice = { service, id, durationMs, ejections: state.ejections, reason: `${this.#threshold} consecutive failures, last: ${reason}` };
    this.#tellApplied(notice);
    for (const listener of this.#ejectListeners) listener(notice);
  }

  /**
   * An ejection decided by another proxy. Advisory: applied only for a known
   * instance, within this proxy's own maxEjectionPercent, never shortening a
   * longer local ejection. Returns whether it was applied.
   */
  applyShared(notice: EjectionNotice, origin: string): boolean {
    if (this.#closed || this.#threshold <= 0 || notice.durationMs <= 0) return false;
    const { service, id } = notice;
    const state = this.#services.service(service);
    const record = state?.instances.find((r) => r.id === id);
    if (record === undefined) return false;
    const now = this.#clock.now();
    const until = now + Math.min(notice.durationMs, this.#maxMs);
    const stats = this.#pool.stats(service, id);
    if (stats.ejectedUntil >= until) return false;
    if (!isEjected(stats, now) && !this.#hasRoom(service, id, now)) {
      this.#log.warn({ service, id, origin, maxEjectionPercent: this.#maxPercent }, 'shared ejection refused: max ejection percent reached');
      return false;
    }
    let local = this.#states.get(stats);
    if (local === undefined) {
      local = { failures: 0, ejections: 0, returnsAt: 0, returnTimer: undefined };
      this.#states.set(stats, local);
    }
    // Adopt the peer's backoff level so the next ejection, wherever decided, grows from it.
    local.ejections = Math.max(this.#decayed(local, now), notice.ejections);
    local.failures = 0;
    this.#apply(service, id, until, local);
    this.#log.warn({ service, id, origin, ejections: notice.ejections, durationMs: until - now }, 'shared ejection applied');
    const why = typeof notice.reason === 'string' ? `${notice.reason} (${origin})` : `shared by ${origin}`;
    this.#tellApplied({ service, id, durationMs: until - now, ejections: notice.ejections, reason: why });
    return true;
  }

  /** Cancel return timers; outcomes after close are ignored. */
  close(): void {
    this.#closed = true;
    for (const timer of this.#timers) timer.cancel();
    this.#timers.clear();
  }

  #apply(service: string, id: string, until: number, state: OutlierState): void {
    this.#pool.eject(service, id, until);
    state.returnsAt = until;
    if (state.returnTimer !== undefined) {
      state.returnTimer.cancel();
      this.#timers.delete(state.returnTimer);
    }
    const timer = this.#clock.setTimer(() => {
      this.#timers.delete(timer);
      if (state.returnTimer === timer) state.returnTimer = undefined;
      const stats = this.#pool.peek(service, id);
      // Still registered and not re-ejected meanwhile: back in traffic from now (EndpointSets rebuilt at `until`).
      if (stats !== undefined && stats.ejectedUntil === until) {
        this.#log.info({ service, id }, 'instance returned from ejection');
        // Health listeners (the panic gauge) hear of the return without waiting for a request.
        this.#pool.ejectionEnded(service, id);
      }
    }, until - this.#clock.now());
    state.returnTimer = timer;
    this.#timers.add(timer);
  }

  #tellApplied(ejection: EjectionApplied): void {
    for (const listener of this.#appliedListeners) listener(ejection);
  }

  /** The backoff level after one step of decay per quiet period since the last ejection. */
  #decayed(state: OutlierState, now: number): number {
    if (state.ejections === 0) return 0;
    const quietPeriods = Math.floor((now - state.returnsAt) / this.#maxMs);
    return Math.max(0, state.ejections - Math.max(0, quietPeriods));
  }

  /** Would ejecting one more instance of `service` stay within maxEjectionPercent? */
  #hasRoom(service: string, id: string, now: number): boolean {
    const instances = this.#services.service(service)?.instances ?? [];
    if (instances.length === 0) return false;
    let ejected = 0;
    for (const record of instances) {
      if (record.id !== id && isEjected(this.#pool.peek(service, record.id), now)) ejected += 1;
    }
    return ((ejected + 1) * 100) / instances.length <= this.#maxPercent;
  }
}
