/**
 * Configuration reload (SIGHUP, `POST /v1/admin/reload`): read the configuration again
 * the way the process started (file, then WAYPOST_* env, then the command-line flags,
 * which keep winning), validate it whole, refuse a change that needs a restart, then
 * hand it to the app (WaypostApp.applyConfig) and any further steps (the cluster
 * primary's workers). A refused reload changes nothing: the previous configuration
 * stays and the error names the field. Reloads run one at a time, in order.
 *
 * waypost_config_reloads_total{result} counts them; as Prometheus does,
 * waypost_config_last_reload_success_timestamp_seconds is set at start too.
 */
import { describeChanges, refuseRestartOnlyChanges, type ConfigChanges } from './config/reload.js';
import type { WaypostConfig } from './config/schema.js';
import { describeError, ErrorCodes, WaypostError } from './errors.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

/** Loads and validates the configuration again; throws WaypostError('config') naming the field. */
export type ConfigSource = () => WaypostConfig;

/** Work after the app applied a configuration; what it returns joins the reload's summary. */
export type ReloadStep = (next: WaypostConfig) => Promise<Record<string, unknown> | void>;

export type ReloadSummary = ConfigChanges & { readonly status: 'reloaded'; readonly [extra: string]: unknown };

export interface ConfigReloaderOptions {
  source: ConfigSource;
  current: () => WaypostConfig;
  apply: (next: WaypostConfig) => Promise<void>;
  metrics: Metrics;
  logger: Logger;
}

export class ConfigReloader {
  readonly #o: ConfigReloaderOptions;
  readonly #log: Logger;
  readonly #steps: ReloadStep[] = [];
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: ConfigReloaderOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: 'reload' });
    options.metrics.configLastReloadSuccess.set(Date.now() / 1000);
  }

  /** Runs after every applied reload, in the order added (the cluster primary: hand the config to the workers). */
  addStep(step: ReloadStep): void {
    this.#steps.push(step);
  }

  /** Resolves with what changed; rejects with a WaypostError (`invalid` 400, `conflict` 409, `startup` 500). */
  reload(trigger: string): Promise<ReloadSummary> {
    const run = this.#queue.then(() => this.#reload(trigger));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #reload(trigger: string): Promise<ReloadSummary> {
    const { metrics } = this.#o;
    try {
      const next = this.#read();
      const current = this.#o.current();
      refuseRestartOnlyChanges(current, next);
      const changes = describeChanges(current, next);
      await this.#o.apply(next);
      const extra: Record<string, unknown> = {};
      for (const step of this.#steps) Object.assign(extra, await step(next));
      metrics.configReloads.labels('success').inc();
      metrics.configLastReloadSuccess.set(Date.now() / 1000);
      this.#log.info({ trigger, ...changes, ...extra }, 'configuration reloaded');
      return { status: 'reloaded', ...changes, ...extra };
    } catch (err) {
      metrics.configReloads.labels('failure').inc();
      const field = err instanceof WaypostError ? err.field : undefined;
      this.#log.error({ trigger, field, err: describeError(err) }, 'configuration reload refused; the previous configuration stays');
      throw err;
    }
  }

  /** A config error at start exits 2; on reload the same message is a 400 naming the same field. */
  #read(): WaypostConfig {
    try {
      return this.#o.source();
    } catch (err) {
      const field = err instanceof WaypostError ? err.field : undefined;
      throw new WaypostError(ErrorCodes.INVALID, describeError(err), { ...(field ? { field } : {}), cause: err });
    }
  }
}
