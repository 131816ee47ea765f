/**
 * Reports self-preservation (expiry held because too many of a service's instances would
 * expire in one sweep, DESIGN §2) from each lease sweep: `waypost_self_preservation` per
 * service, and one log line when a service enters the state and one when it leaves it.
 */
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { SweepResult } from './registry/store.js';

export class SelfPreservationReport {
  #held = new Set<string>();

  constructor(
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  readonly onSweep = (result: SweepResult): void => {
    const held = new Set(result.held.map((h) => h.service));
    for (const h of result.held) {
      if (!this.#held.has(h.service)) {
        this.log.warn({ service: h.service, wouldExpire: h.wouldExpire, instances: h.instances }, 'self-preservation engaged: expiry held');
      }
      this.metrics.selfPreservation.set({ service: h.service }, 1);
    }
    for (const service of this.#held) {
      if (!held.has(service)) {
        this.metrics.selfPreservation.set({ service }, 0);
        this.log.info({ service }, 'self-preservation released');
      }
    }
    this.#held = held;
  };
}
