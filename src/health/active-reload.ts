/**
 * The process's active health checker across configuration reloads: a reload that
 * changes `health.active` closes the running checker and starts one with the new
 * settings; a service whose check is gone has its last verdicts cleared, so an
 * instance a removed check had failed takes traffic again.
 */
import type { WaypostConfig } from '../config/schema.js';
import { ActiveChecker, type ActiveCheckerOptions } from './active.js';

type ActiveChecks = WaypostConfig['health']['active'];

export class ReloadableActiveChecker {
  readonly #options: Omit<ActiveCheckerOptions, 'checks'>;
  #checks: ActiveChecks;
  #checker: ActiveChecker;
  #started = false;

  constructor(options: Omit<ActiveCheckerOptions, 'checks'>, checks: ActiveChecks) {
    this.#options = options;
    this.#checks = checks;
    this.#checker = new ActiveChecker({ ...options, checks });
  }

  get current(): ActiveChecker {
    return this.#checker;
  }

  start(): void {
    this.#started = true;
    this.#checker.start();
  }

  close(): void {
    this.#started = false;
    this.#checker.close();
  }

  reconfigure(checks: ActiveChecks): void {
    const previous = this.#checks;
    if (JSON.stringify(previous) === JSON.stringify(checks)) return;
    this.#checks = checks;
    this.#checker.close();
    const { pool, source } = this.#options;
    for (const service of Object.keys(previous)) {
      if (checks[service] !== undefined) continue;
      for (const { id } of source.service(service)?.instances ?? []) pool.setActiveHealthy(service, id, undefined);
    }
    this.#checker = new ActiveChecker({ ...this.#options, checks });
    if (this.#started) this.#checker.start();
  }
}
