/**
 * HealthHistory: the last few health changes of each instance, with their reason, for the
 * dashboard's instance detail (active-check verdicts, ejections and returns).
 *
 * Bounded twice: HISTORY_LENGTH events per instance, and only registered instances
 * (`retain` follows the mirror, as the pool's stats do).
 */
import type { Clock } from '../clock.js';

/** Events kept per instance, newest last. */
export const HISTORY_LENGTH = 10;

export interface HealthEvent {
  /** Epoch ms. */
  readonly at: number;
  readonly health: 'healthy' | 'unhealthy' | 'ejected';
  readonly reason: string;
  /** Ejections: when it ends (epoch ms). */
  readonly until?: number;
}

export class HealthHistory {
  readonly #clock: Clock;
  /** service → instance id → events, newest last. */
  readonly #services = new Map<string, Map<string, HealthEvent[]>>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  note(service: string, id: string, health: HealthEvent['health'], reason: string, durationMs?: number): void {
    let instances = this.#services.get(service);
    if (instances === undefined) {
      instances = new Map();
      this.#services.set(service, instances);
    }
    let events = instances.get(id);
    if (events === undefined) {
      events = [];
      instances.set(id, events);
    }
    const at = this.#clock.now();
    events.push(durationMs === undefined ? { at, health, reason } : { at, health, reason, until: at + durationMs });
    if (events.length > HISTORY_LENGTH) events.shift();
  }

  of(service: string, id: string): readonly HealthEvent[] {
    return this.#services.get(service)?.get(id) ?? [];
  }

  /** Keep only the histories of `ids` (the service's registered instances). */
  retain(service: string, ids: readonly string[]): void {
    const instances = this.#services.get(service);
    if (instances === undefined) return;
    const keep = new Set(ids);
    for (const id of instances.keys()) if (!keep.has(id)) instances.delete(id);
    if (instances.size === 0) this.#services.delete(service);
  }
}
