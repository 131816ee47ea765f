/**
 * Housekeeping: drops what the process keeps for services and upstream addresses
 * that left the registry (RegistryDepartures decides what left and when its grace is
 * over), and the periodic work that keeps that state in step with the registry:
 * sweeping stats of removed instances once their work has ended, and sending
 * services whose series came back after their departure (a client still asking for
 * the name) through departure again.
 */
import type { Clock, TimerHandle } from './clock.js';
import type { WaypostConfig } from './config/schema.js';
import type { Departed, RegistryDepartures } from './departures.js';
import { describeError } from './errors.js';
import type { EndpointSets } from './health/endpoint-sets.js';
import type { EndpointPool } from './health/state.js';
import type { Logger } from './log.js';
import { UNROUTED, type Metrics } from './metrics.js';

/** Stats of removed instances that were busy are dropped this often once their work ends. */
const POOL_SWEEP_INTERVAL_MS = 5_000;

export interface HousekeepingOptions {
  config: Pick<WaypostConfig, 'routes' | 'tcp'>;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  pool: EndpointPool;
  endpointSets: EndpointSets;
  router: { forgetService(service: string): void };
  departures: RegistryDepartures;
  /** Closes the upstream pool of an address once idle (the HTTP engine; absent before the listeners start). */
  forgetUpstream: (address: string) => void;
}

export class Housekeeping {
  readonly #o: HousekeepingOptions;
  /** Services named in the config: bounded by it, so their series stay while they have no instances. */
  #configured: ReadonlySet<string>;
  #sweepTimer: TimerHandle | undefined;
  #strayTimer: TimerHandle | undefined;
  #closed = false;

  constructor(options: HousekeepingOptions) {
    this.#o = options;
    this.#configured = configuredServices(options.config);
  }

  /** A reloaded configuration: the services it names keep their series. */
  reconfigure(config: HousekeepingOptions['config']): void {
    this.#configured = configuredServices(config);
  }

  start(): void {
    this.#sweepPool();
    this.#reapStrays();
  }

  close(): void {
    this.#closed = true;
    this.#sweepTimer?.cancel();
    this.#strayTimer?.cancel();
  }

  /** Drop what is kept for services and addresses that left the registry a grace ago. */
  onDeparted({ services, addresses }: Departed): void {
    const { endpointSets, pool, router, metrics } = this.#o;
    for (const service of services) {
      // Requests and late health verdicts during the grace may have created state again.
      endpointSets.forget(service);
      pool.retain(service, []);
      router.forgetService(service);
    }
    for (const address of addresses) this.#o.forgetUpstream(address);
    metrics.removeServices(services).catch((err: unknown) => {
      this.#o.logger.error({ err: describeError(err) }, 'removing metric series of departed services failed');
    });
  }

  #sweepPool(): void {
    this.#sweepTimer = this.#o.clock.setTimer(() => {
      this.#o.pool.sweep();
      if (!this.#closed) this.#sweepPool();
    }, POOL_SWEEP_INTERVAL_MS);
  }

  /** Once a grace: one pass over the series; names neither registered nor configured depart (again). */
  #reapStrays(): void {
    const departures = this.#o.departures;
    this.#strayTimer = this.#o.clock.setTimer(() => {
      this.#o.metrics
        .serviceLabels()
        .then((services) => {
          for (const service of services) if (service !== UNROUTED && !this.#configured.has(service)) departures.noteStray(service);
        })
        .catch((err: unknown) => this.#o.logger.error({ err: describeError(err) }, 'listing metric series failed'))
        .finally(() => {
          if (!this.#closed) this.#reapStrays();
        });
    }, departures.graceMs);
  }
}

function configuredServices(config: HousekeepingOptions['config']): ReadonlySet<string> {
  return new Set([
    ...config.routes.map((route) => route.service),
    ...config.tcp.flatMap((tcp) => [tcp.service, ...Object.values(tcp.sniRoutes ?? {})]),
  ]);
}
