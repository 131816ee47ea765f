/**
 * EndpointSets: turns the mirror's frozen ServiceState plus the health pool into
 * the frozen EndpointSet balancers pick from, and caches it.
 *
 * The request path calls `forService(state)` once per pick. The cached set is
 * reused while (a) the mirror still hands out the same ServiceState object, (b)
 * the service's health epoch is unchanged and (c) no time-based deadline (an
 * ejection ending, the next slow-start step) has passed: one Map lookup and
 * three comparisons, no scan. Anything else rebuilds that one service's set,
 * O(its instances).
 *
 * Membership, in order:
 * 1. eligible = isEligible(record, stats, now) (health/eligibility.ts, the one rule);
 * 2. panic (Envoy's rule): when eligible < panicThreshold × UP instances (UP with
 *    weight > 0, ejection and active health ignored), use all of those UP
 *    instances; threshold 0 disables panic, leaving an empty set;
 * 3. otherwise zone preference (zone.ts) may narrow to the proxy's zone.
 * Weights ramp over `slowStartMs` from each endpoint's `readyAt`.
 */
import { systemClock, type Clock } from '../clock.js';
import { isEligible } from './eligibility.js';
import type { EndpointHealthStats, EndpointPool, ServiceHealth } from './state.js';
import type { ServiceState } from '../registry/store.js';
import { instanceKey, type InstanceRecord } from '../types.js';
import type { Endpoint, EndpointSet } from '../endpoint.js';
import { inZone, preferLocalZone } from '../balancer/zone.js';
import { formatHostPort } from '../net/address.js';

/** Slow start raises weights in this many steps; the set is rebuilt at each step. */
const SLOW_START_STEPS = 10;
/** A ramping endpoint starts at this share of its weight. */
const SLOW_START_MIN_FACTOR = 0.1;

export interface EndpointSetsOptions {
  pool: EndpointPool;
  clock?: Clock;
  /** 0–1; below this share of healthy instances use all UP instances. 0 disables. @default 0.5 */
  panicThreshold?: number;
  /** Ramp time for new and returning endpoints; 0 disables. @default 0 */
  slowStartMs?: number;
  /** This proxy's zone; "" = no zone preference. @default "" */
  zone?: string;
  /** Called when a service enters or leaves panic mode (drives waypost_panic_mode). */
  onPanicChange?: (service: string, panic: boolean) => void;
  /** Where `checkPanicSoon` reads a service's current state (the mirror); without it the check is a no-op. */
  services?: ServiceStateLookup;
}

export interface ServiceStateLookup {
  service(name: string): ServiceState | undefined;
}

interface CacheEntry {
  readonly state: ServiceState;
  readonly health: ServiceHealth;
  readonly epoch: number;
  /** The set must be rebuilt at or after this time (ms); Infinity = never for time reasons. */
  readonly validUntil: number;
  readonly set: EndpointSet;
}

interface Candidate {
  readonly record: InstanceRecord;
  readonly stats: EndpointHealthStats;
}

export class EndpointSets {
  readonly #pool: EndpointPool;
  readonly #clock: Clock;
  readonly #panicThreshold: number;
  readonly #slowStartMs: number;
  readonly #zone: string;
  readonly #onPanicChange: ((service: string, panic: boolean) => void) | undefined;
  readonly #services: ServiceStateLookup | undefined;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #panicking = new Set<string>();
  readonly #endpoints = new WeakMap<InstanceRecord, Endpoint>();
  /** Services whose panic state is re-evaluated at the end of this tick (coalesced). */
  readonly #panicChecks = new Set<string>();

  constructor(options: EndpointSetsOptions) {
    this.#pool = options.pool;
    this.#clock = options.clock ?? systemClock;
    this.#panicThreshold = options.panicThreshold ?? 0.5;
    this.#slowStartMs = options.slowStartMs ?? 0;
    this.#zone = options.zone ?? '';
    this.#onPanicChange = options.onPanicChange;
    this.#services = options.services;
  }

  forService(state: ServiceState): EndpointSet {
    const cached = this.#cache.get(state.name);
    if (
      cached !== undefined &&
      cached.state === state &&
      cached.epoch === cached.health.epoch &&
      this.#clock.now() < cached.validUntil
    ) {
      return cached.set;
    }
    return this.#rebuild(state, cached);
  }

  /** Services currently in panic mode. */
  get panicking(): ReadonlySet<string> {
    return this.#panicking;
  }

  /** Drop a removed service's cached set and panic flag. */
  forget(service: string): void {
    this.#cache.delete(service);
    if (this.#panicking.delete(service)) this.#onPanicChange?.(service, false);
  }

  /**
   * Re-evaluate `service`'s panic state after a registry or health change, so
   * waypost_panic_mode moves without waiting for a request. Calls in one tick are
   * coalesced per service (a burst of verdicts costs one count); the count reads the
   * pool without creating stats and builds no set, so slow start is unaffected.
   */
  checkPanicSoon(service: string): void {
    const services = this.#services;
    if (services === undefined || this.#panicThreshold <= 0) return;
    if (this.#panicChecks.size === 0) {
      queueMicrotask(() => {
        for (const name of this.#panicChecks) {
          const state = services.service(name);
          if (state !== undefined && state.instances.length > 0) this.#notePanic(name, this.#countPanic(state));
        }
        this.#panicChecks.clear();
      });
    }
    this.#panicChecks.add(service);
  }

  #countPanic(state: ServiceState): boolean {
    const now = this.#clock.now();
    let up = 0;
    let eligible = 0;
    for (const record of state.instances) {
      if (record.status !== 'UP' || record.weight <= 0) continue;
      up += 1;
      if (isEligible(record, this.#pool.peek(state.name, record.id), now)) eligible += 1;
    }
    return this.#isPanic(up, eligible);
  }

  /** Envoy's rule: fewer than threshold × UP instances eligible; a threshold of 0 never panics. */
  #isPanic(up: number, eligible: number): boolean {
    return this.#panicThreshold > 0 && up > 0 && eligible < this.#panicThreshold * up;
  }

  #rebuild(state: ServiceState, previous: CacheEntry | undefined): EndpointSet {
    const name = state.name;
    const now = this.#clock.now();
    const health = this.#pool.serviceHealth(name);
    // Instances seen in the very first build of a service start at full weight:
    // they all joined together, so ramping them would change nothing but the total.
    const defaultReadyAt = previous === undefined ? -Infinity : now;
    const zone = this.#zone;

    const up: Candidate[] = [];
    const eligible: Candidate[] = [];
    const local: Candidate[] = [];
    let localUp = 0;
    let validUntil = Infinity;

    for (const record of state.instances) {
      const stats = this.#pool.stats(name, record.id, defaultReadyAt);
      if (stats.ejectedUntil > now && stats.ejectedUntil < validUntil) validUntil = stats.ejectedUntil;
      if (record.status !== 'UP' || record.weight <= 0) continue;
      const candidate = { record, stats };
      up.push(candidate);
      const isLocal = inZone(record, zone);
      if (isLocal) localUp += 1;
      if (isEligible(record, stats, now)) {
        eligible.push(candidate);
        if (isLocal) local.push(candidate);
      }
    }
    // Every registered id was just looked up, so more held stats means some instance left.
    if (this.#pool.heldCount(name) > state.instances.length) {
      this.#pool.retain(name, state.instances.map((r) => r.id));
    }

    const panic = this.#isPanic(up.length, eligible.length);
    this.#notePanic(name, panic);
    const chosen = panic ? up : zone !== '' && preferLocalZone(local.length, localUp, this.#panicThreshold) ? local : eligible;

    const endpoints: Endpoint[] = [];
    let totalWeight = 0;
    const slowStart = this.#slowStartMs > 0;
    for (const { record, stats } of chosen) {
      let weight = record.weight;
      if (slowStart && now - stats.readyAt < this.#slowStartMs) {
        const ramp = this.#slowStart(stats.readyAt, now);
        if (ramp.until < validUntil) validUntil = ramp.until;
        weight = Math.max(1, Math.round(record.weight * ramp.factor));
      }
      totalWeight += weight;
      endpoints.push(this.#endpoint(record, stats, weight));
    }

    const set: EndpointSet = Object.freeze({
      service: name,
      endpoints: Object.freeze(endpoints),
      totalWeight,
      panic,
    });
    this.#cache.set(name, { state, health, epoch: health.epoch, validUntil, set });
    return set;
  }

  /**
   * The mirror keeps unchanged records (same object) across changes, so their
   * Endpoint objects are reused too: a rebuild allocates only for what changed.
   */
  #endpoint(record: InstanceRecord, stats: EndpointHealthStats, weight: number): Endpoint {
    const known = this.#endpoints.get(record);
    if (known !== undefined && known.weight === weight && known.stats === stats) return known;
    const endpoint: Endpoint = Object.freeze({
      key: instanceKey(record.service, record.id),
      instance: record,
      address: formatHostPort(record),
      weight,
      stats,
    });
    this.#endpoints.set(record, endpoint);
    return endpoint;
  }

  /** Weight factor for an endpoint ready since `readyAt`, and when it next changes. */
  #slowStart(readyAt: number, now: number): { factor: number; until: number } {
    const span = this.#slowStartMs;
    const elapsed = now - readyAt;
    if (span <= 0 || elapsed >= span) return { factor: 1, until: Infinity };
    if (elapsed < 0) return { factor: SLOW_START_MIN_FACTOR, until: readyAt };
    const step = span / SLOW_START_STEPS;
    const until = readyAt + Math.min(span, (Math.floor(elapsed / step) + 1) * step);
    return { factor: Math.max(SLOW_START_MIN_FACTOR, elapsed / span), until };
  }

  #notePanic(service: string, panic: boolean): void {
    if (panic === this.#panicking.has(service)) return;
    if (panic) this.#panicking.add(service);
    else this.#panicking.delete(service);
    this.#onPanicChange?.(service, panic);
  }
}
