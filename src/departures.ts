/**
 * RegistryDepartures: what has left the registry, handed to cleanup after a grace.
 *
 * Fed with the mirror's changes. Two things depart:
 * - a service, when its last instance leaves (state gone or empty);
 * - an upstream address (HOST:PORT), when no instance of any service uses it any more.
 * If still gone `graceMs` later, they reach the listener in one batch, which drops what
 * the process keeps per service or per address: metric series and the caches of their
 * children, health stats, convention routes, upstream connection pools. Without this,
 * all of that grows with every name and address ever registered.
 *
 * The grace lets a final scrape see a departed service's last values (so a counter's
 * last increments are not lost) and absorbs a quick re-registration: a service or
 * address that comes back within it is simply no longer departed.
 */
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { formatHostPort } from './net/address.js';
import type { ServiceState } from './registry/store.js';

/** Two scrapes at Prometheus's common 30 s interval: the last values are scraped at least once. */
export const DEPARTURE_GRACE_MS = 60_000;

export interface Departed {
  readonly services: ReadonlySet<string>;
  readonly addresses: ReadonlySet<string>;
}

export interface RegistryDeparturesOptions {
  /** Called once per batch of departures whose grace has passed. */
  onDeparted: (departed: Departed) => void;
  /** @default DEPARTURE_GRACE_MS */
  graceMs?: number;
  clock?: Clock;
}

export class RegistryDepartures {
  readonly #onDeparted: (departed: Departed) => void;
  readonly #graceMs: number;
  readonly #clock: Clock;
  /** service → the addresses its instances use now. */
  readonly #addressesOf = new Map<string, ReadonlySet<string>>();
  /** address → how many services use it (a shared HOST:PORT departs with its last user). */
  readonly #users = new Map<string, number>();
  /** Departed, grace running: name → when it left (ms). Insertion order is departure order. */
  readonly #services = new Map<string, number>();
  readonly #addresses = new Map<string, number>();
  #timer: TimerHandle | undefined;
  #closed = false;

  constructor(options: RegistryDeparturesOptions) {
    this.#onDeparted = options.onDeparted;
    this.#graceMs = options.graceMs ?? DEPARTURE_GRACE_MS;
    this.#clock = options.clock ?? systemClock;
  }

  /** A service changed (mirror.onChange); also used to seed the book from the first snapshot. */
  update(service: string, state: ServiceState | undefined): void {
    if (this.#closed) return;
    const now = this.#clock.now();
    const before = this.#addressesOf.get(service);
    const after = new Set<string>();
    for (const record of state?.instances ?? []) after.add(formatHostPort(record));
    for (const address of after) {
      if (before?.has(address)) continue;
      this.#users.set(address, (this.#users.get(address) ?? 0) + 1);
      this.#addresses.delete(address);
    }
    for (const address of before ?? []) {
      if (after.has(address)) continue;
      const users = (this.#users.get(address) ?? 1) - 1;
      if (users > 0) {
        this.#users.set(address, users);
      } else {
        this.#users.delete(address);
        this.#addresses.set(address, now);
      }
    }
    if (after.size > 0) {
      this.#addressesOf.set(service, after);
      this.#services.delete(service);
    } else {
      this.#addressesOf.delete(service);
      // A service already departing keeps its first departure time.
      if (!this.#services.has(service)) this.#services.set(service, now);
    }
    this.#arm();
  }

  /**
   * Something still keeps state for `service` (a metric series, say) although it has no
   * instances: a client asking for a departed name after its grace re-creates it. Unless
   * it is registered or already departing, it departs (again) now, grace and all.
   */
  noteStray(service: string): void {
    if (this.#closed || this.#addressesOf.has(service) || this.#services.has(service)) return;
    this.#services.set(service, this.#clock.now());
    this.#arm();
  }

  get graceMs(): number {
    return this.#graceMs;
  }

  /** true while `service` has left and its grace is running (its last values are still shown). */
  isDeparting(service: string): boolean {
    return this.#services.has(service);
  }

  /** Departures whose grace is running (for tests). */
  get pending(): { services: number; addresses: number } {
    return { services: this.#services.size, addresses: this.#addresses.size };
  }

  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** One timer, for the oldest departure; it hands over every due one and re-arms. */
  #arm(): void {
    if (this.#timer !== undefined || this.#closed) return;
    const oldest = Math.min(firstValue(this.#services), firstValue(this.#addresses));
    if (oldest === Infinity) return;
    this.#timer = this.#clock.setTimer(() => {
      this.#timer = undefined;
      this.#release();
      this.#arm();
    }, oldest + this.#graceMs - this.#clock.now());
  }

  #release(): void {
    const due = this.#clock.now() - this.#graceMs;
    const departed: Departed = { services: takeDue(this.#services, due), addresses: takeDue(this.#addresses, due) };
    if (departed.services.size > 0 || departed.addresses.size > 0) this.#onDeparted(departed);
  }
}

function firstValue(map: ReadonlyMap<string, number>): number {
  for (const value of map.values()) return value;
  return Infinity;
}

/** Removes and returns the keys that left at or before `due` (the map is in departure order). */
function takeDue(map: Map<string, number>, due: number): Set<string> {
  const taken = new Set<string>();
  for (const [key, leftAt] of map) {
    if (leftAt > due) break;
    taken.add(key);
    map.delete(key);
  }
  return taken;
}
