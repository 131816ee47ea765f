/**
 * EndpointPool: the per-instance counters and health marks that must outlive
 * snapshot swaps. One EndpointHealthStats object per `service/id`; a registry
 * change builds new Endpoint objects that point at the same stats, so in-flight
 * counts and ejections are never reset by a change.
 *
 * Every change to a health field bumps that service's `epoch`; EndpointSets
 * compares it to rebuild only the affected service's set.
 */
import type { EndpointStats } from '../endpoint.js';
import { systemClock, type Clock } from '../clock.js';
import { instanceKey } from '../types.js';

export interface EndpointHealthStats extends EndpointStats {
  inflight: number;
  /** Passive outlier detection: ejected while `ejectedUntil > now` (ms). 0 = never ejected. */
  ejectedUntil: number;
  /** Active check verdict; undefined = not checked (no active check configured or none finished yet). */
  activeHealthy: boolean | undefined;
  /** When the endpoint (re)joined traffic, for slow start (ms). */
  readyAt: number;
}

/** Health version of one service; held by reference so readers compare without a Map lookup. */
export interface ServiceHealth {
  epoch: number;
}

interface ServiceEntry {
  readonly health: ServiceHealth;
  readonly stats: Map<string, EndpointHealthStats>;
  /** Ids no longer registered whose stats are kept until their in-flight work ends. */
  readonly removed: Set<string>;
}

/** Told of every change of an endpoint's active-health verdict (the cluster primary relays them). */
export type ActiveHealthListener = (service: string, id: string, healthy: boolean | undefined) => void;

/** Told whenever a service's health epoch moves (ejection, its end, an active verdict). */
export type HealthChangeListener = (service: string) => void;

export class EndpointPool {
  readonly #clock: Clock;
  readonly #services = new Map<string, ServiceEntry>();
  readonly #activeListeners = new Set<ActiveHealthListener>();
  readonly #healthListeners = new Set<HealthChangeListener>();
  /** Entries holding removed-but-busy stats: all `sweep()` has to visit. */
  readonly #withRemoved = new Set<string>();

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  /**
   * The stats of a registered `service/id`, created on first use with `readyAt` (default
   * now). A removed id asked for again is registered again: its stats are kept.
   */
  stats(service: string, id: string, readyAt = this.#clock.now()): EndpointHealthStats {
    const entry = this.#entry(service);
    if (entry.removed.size !== 0) entry.removed.delete(id);
    return this.#statsIn(entry, id, readyAt);
  }

  /** The stats of `service/id` if known; never creates. */
  peek(service: string, id: string): EndpointHealthStats | undefined {
    return this.#services.get(service)?.stats.get(id);
  }

  /** The health version object of a service (stable for the pool's lifetime). */
  serviceHealth(service: string): ServiceHealth {
    return this.#entry(service).health;
  }

  epoch(service: string): number {
    return this.#services.get(service)?.health.epoch ?? 0;
  }

  /** Passive health: keep the endpoint out of new traffic until `until`; it slow-starts from then. */
  eject(service: string, id: string, until: number): void {
    // Not stats(): a late verdict on a removed instance must not keep its stats alive.
    const stats = this.#statsIn(this.#entry(service), id);
    stats.ejectedUntil = until;
    stats.readyAt = until;
    this.#bump(service);
  }

  /** End an ejection early (e.g. a shared ejection was lifted). */
  clearEjection(service: string, id: string): void {
    const stats = this.peek(service, id);
    if (!stats || stats.ejectedUntil === 0) return;
    const now = this.#clock.now();
    if (stats.ejectedUntil > now) stats.readyAt = now;
    stats.ejectedUntil = 0;
    this.#bump(service);
  }

  /**
   * A time-based ejection of `service/id` has run out. Nothing in the stats changes (the
   * rule reads `ejectedUntil` against the clock), but listeners must hear of it, or a
   * service put into panic by ejections would only leave panic on the next request.
   */
  ejectionEnded(service: string, id: string): void {
    const stats = this.peek(service, id);
    if (stats !== undefined) this.#bump(service);
  }

  /** Active health verdict; a return to healthy restarts slow start. */
  setActiveHealthy(service: string, id: string, healthy: boolean | undefined): void {
    const stats = this.#statsIn(this.#entry(service), id);
    if (stats.activeHealthy === healthy) return;
    if (healthy === true && stats.activeHealthy === false) stats.readyAt = this.#clock.now();
    stats.activeHealthy = healthy;
    this.#bump(service);
    for (const listener of this.#activeListeners) listener(service, id, healthy);
  }

  onActiveHealth(listener: ActiveHealthListener): () => void {
    this.#activeListeners.add(listener);
    return () => this.#activeListeners.delete(listener);
  }

  onHealthChange(listener: HealthChangeListener): () => void {
    this.#healthListeners.add(listener);
    return () => this.#healthListeners.delete(listener);
  }

  /** Every endpoint with an active-health verdict (a new cluster worker starts from these). */
  *activeVerdicts(): IterableIterator<{ service: string; id: string; healthy: boolean }> {
    for (const [service, entry] of this.#services) {
      for (const [id, stats] of entry.stats) if (stats.activeHealthy !== undefined) yield { service, id, healthy: stats.activeHealthy };
    }
  }

  /**
   * Keep only the stats of `ids` (the service's registered instances). Stats of
   * removed instances are dropped once nothing is in flight to them; those still
   * busy are dropped by a later call or `sweep()`. A service left with no stats
   * at all is forgotten entirely; if it returns it starts a fresh entry.
   */
  retain(service: string, ids: Iterable<string>): void {
    const entry = this.#services.get(service);
    if (!entry) return;
    const live = new Set(ids);
    for (const id of entry.stats.keys()) if (!live.has(id)) entry.removed.add(id);
    for (const id of live) entry.removed.delete(id);
    this.#dropIdle(service, entry);
  }

  /** Stats objects held for one service (registered and removed-but-busy). */
  heldCount(service: string): number {
    return this.#services.get(service)?.stats.size ?? 0;
  }

  /** Services with an entry (for tests: a departed service must not keep one). */
  get serviceCount(): number {
    return this.#services.size;
  }

  /**
   * Drop stats of removed instances whose in-flight work has ended. Visits only the
   * services that hold such stats, so it can run periodically at any registry size.
   */
  sweep(): void {
    for (const service of this.#withRemoved) {
      const entry = this.#services.get(service);
      if (entry === undefined) this.#withRemoved.delete(service);
      else this.#dropIdle(service, entry);
    }
  }

  /** Number of stats objects held (for tests and metrics). */
  get size(): number {
    let n = 0;
    for (const entry of this.#services.values()) n += entry.stats.size;
    return n;
  }

  /** Endpoints with requests or connections in flight (the cluster relay reports them; once a second). */
  *busy(): IterableIterator<[service: string, id: string, inflight: number]> {
    for (const [service, entry] of this.#services) for (const [id, stats] of entry.stats) if (stats.inflight > 0) yield [service, id, stats.inflight];
  }

  /** `service/id` keys currently held. */
  *keys(): IterableIterator<string> {
    for (const [service, entry] of this.#services) for (const id of entry.stats.keys()) yield instanceKey(service, id);
  }

  #dropIdle(service: string, entry: ServiceEntry): void {
    for (const id of entry.removed) {
      const stats = entry.stats.get(id);
      if (!stats || stats.inflight <= 0) {
        entry.stats.delete(id);
        entry.removed.delete(id);
      }
    }
    if (entry.removed.size === 0) this.#withRemoved.delete(service);
    else this.#withRemoved.add(service);
    // No stats left means no set cache can be current for this entry (a set built from the
    // current state creates stats for each of its instances), so its ServiceHealth can go too.
    if (entry.stats.size === 0) this.#services.delete(service);
  }

  #bump(service: string): void {
    this.#entry(service).health.epoch += 1;
    for (const listener of this.#healthListeners) listener(service);
  }

  #statsIn(entry: ServiceEntry, id: string, readyAt = this.#clock.now()): EndpointHealthStats {
    let stats = entry.stats.get(id);
    if (!stats) {
      stats = { inflight: 0, ejectedUntil: 0, activeHealthy: undefined, readyAt };
      entry.stats.set(id, stats);
    }
    return stats;
  }

  #entry(service: string): ServiceEntry {
    let entry = this.#services.get(service);
    if (!entry) {
      entry = { health: { epoch: 0 }, stats: new Map(), removed: new Set() };
      this.#services.set(service, entry);
    }
    return entry;
  }
}
