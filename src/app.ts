/**
 * Composition root: store → mirror → health → routing → proxy listeners + admin.
 * `start()` brings the parts up in that order and `stop()` takes them down in
 * reverse, so no listener ever serves from a registry that is not synced.
 */
import { dashboardRoute } from './admin/dashboard.js';
import type { CompatHandlers } from './compat/index.js';
import { AdminServer } from './admin/server.js';
import { routeViews } from './admin/route-list.js';
import { poolStatsSource, statsRoute } from './admin/stats-api.js';
import { EndpointSets } from './health/endpoint-sets.js';
import { systemClock, type Clock } from './clock.js';
import type { WaypostConfig } from './config/schema.js';
import { RegistryDepartures } from './departures.js';
import { startupError, WaypostError } from './errors.js';
import type { ActiveChecker } from './health/active.js';
import { ReloadableActiveChecker } from './health/active-reload.js';
import { HealthHistory } from './health/history.js';
import { endpointCounts, poolHealthOf } from './health/eligibility.js';
import { OutlierDetector } from './health/passive.js';
import { SharedEjections } from './health/shared-ejections.js';
import { EndpointPool } from './health/state.js';
import type { Logger } from './log.js';
import { Housekeeping } from './housekeeping.js';
import { Metrics } from './metrics.js';
import { RegistryMirror } from './mirror/mirror.js';
import { ConnectionTracker } from './proxy/connection-tracker.js';
import type { EngineStats } from './proxy/forwarder.js';
import { createStore, usesRedis } from './registry/create-store.js';
import { createRedisClient, parseRedisTopology } from './registry/redis-connection.js';
import { RateLimits } from './policy/rate-limits.js';
import { SharedRateLimitSync } from './policy/shared-rate-limit.js';
import { InstanceSlots } from './policy/instance-slots.js';
import type { RegistryStore } from './registry/store.js';
import { ServicePicker } from './routing/service-picker.js';
import { AuthClient } from './policy/auth-client.js';
import type { PolicyDeps } from './policy/chain.js';
import { SelfPreservationReport } from './self-preservation-report.js';
import { LiveRouter } from './routing/live-router.js';
import { followRegistryRoutes } from './live-routes.js';
import { generateProxyId } from './net/via.js';
import { DataPath } from './data-path.js';
import { ConfigReloader, type ConfigSource } from './app-reload.js';
import { reloadRoute } from './admin/reload-api.js';

export interface AppDeps {
  logger: Logger;
  metrics?: Metrics;
  clock?: Clock;
  /** A registry store to use instead of the configured one (cluster workers: src/workers/ipc-store.ts). */
  store?: RegistryStore;
  /**
   * `all` (default): everything in one process. With `--workers N` the primary runs
   * `registry` (store, mirror, admin; no data-path listeners) and each worker `listeners`
   * (data-path listeners; no admin listener). See src/workers/primary.ts.
   */
  role?: AppRole;
  /**
   * How long what a departed service or address leaves behind (metric series, stats,
   * upstream pools) is kept before it is dropped. @default DEPARTURE_GRACE_MS (60 s)
   */
  departureGraceMs?: number;
  /** Requests in flight to an instance that this process's pool does not see (the cluster primary: its workers'). */
  inflightElsewhere?: (service: string, id: string) => number;
  /**
   * Reads the configuration again (the file, env and flags the process started with) for
   * SIGHUP and `POST /v1/admin/reload`; without it the app cannot reload.
   */
  configSource?: ConfigSource;
}

export type AppRole = 'all' | 'registry' | 'listeners';

/** compat.eureka and compat.consul both off. */
const NO_COMPAT: CompatHandlers = { handlers: [], close: () => {} };

export interface Address {
  host: string;
  port: number;
}

export interface AppAddresses {
  admin: Address;
  http: Address[];
  /** One per `tcp` listener, in config order. */
  tcp: Address[];
}

export class WaypostApp {
  #config: WaypostConfig;
  readonly metrics: Metrics;
  readonly store: RegistryStore;
  readonly mirror: RegistryMirror;
  readonly pool: EndpointPool;
  readonly endpointSets: EndpointSets;
  /** Config-file routes plus the registry's API and declared routes, swapped whole on change (and by a reload). */
  readonly router: LiveRouter;
  /** Open WebSockets and TCP connections per instance, for draining. */
  readonly connections: ConnectionTracker;
  readonly outliers: OutlierDetector;
  /** Recent health changes per instance, for the dashboard. */
  readonly healthHistory: HealthHistory;
  readonly #activeChecks: ReloadableActiveChecker;
  /** Present when ejections are shared through Redis (`health.passive.share`). */
  readonly sharedEjections: SharedEjections | undefined;
  /** Rate-limit buckets of every route (outlive route tables) and the one shared-limit reconciler. */
  readonly rateLimits: RateLimits;
  /** In-flight requests per instance for `concurrency`: outlives route tables so a rebuild keeps the counts. */
  readonly #instanceSlots = new InstanceSlots();
  /** This proxy's Via id (`proxyId`, or random per start): marks forwarded requests, detects loops. */
  readonly proxyId: string;
  /** Services and upstream addresses that left the registry, cleaned up after a grace. */
  readonly departures: RegistryDepartures;
  /** What route policies use (every route table built for this app shares it). */
  readonly policyDeps: PolicyDeps;
  /** forward-auth's connections to auth services: outlive route tables, closed on stop. */
  readonly #authClient = new AuthClient();
  /** forward-auth's `auth.service` instances, picked with the global balancer (a reload may change it). */
  readonly #authTargets: ServicePicker;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #role: AppRole;
  readonly #dataPath: DataPath;
  /** Present when the app was given a configSource. */
  readonly reloader: ConfigReloader | undefined;
  #admin: AdminServer | undefined;
  #compat: CompatHandlers | undefined;
  #listening = false;
  #addresses: AppAddresses | undefined;
  #stopping: Promise<void> | undefined;
  readonly #housekeeping: Housekeeping;
  readonly #inflightElsewhere: ((service: string, id: string) => number) | undefined;

  constructor(config: WaypostConfig, deps: AppDeps) {
    this.#config = config;
    this.proxyId = config.proxyId || generateProxyId();
    this.#log = deps.logger;
    this.metrics = deps.metrics ?? new Metrics();
    this.#role = deps.role ?? 'all';
    this.#inflightElsewhere = deps.inflightElsewhere;
    this.store = deps.store ?? createStore(config, { logger: deps.logger, onSweep: new SelfPreservationReport(this.metrics, deps.logger).onSweep });
    this.mirror = new RegistryMirror({ store: this.store, logger: deps.logger, metrics: this.metrics });
    this.#clock = deps.clock ?? systemClock;
    this.pool = new EndpointPool(this.#clock);
    this.endpointSets = new EndpointSets({
      pool: this.pool,
      clock: this.#clock,
      panicThreshold: config.panicThreshold,
      slowStartMs: config.slowStart,
      zone: config.zone,
      onPanicChange: (service, panic) => {
        this.metrics.panicMode.set({ service }, panic ? 1 : 0);
        this.#log.warn({ service, panic }, panic ? 'panic mode engaged' : 'panic mode released');
      },
      services: { service: (name) => this.mirror.service(name) },
    });
    this.departures = new RegistryDepartures({
      graceMs: deps.departureGraceMs,
      clock: this.#clock,
      onDeparted: (departed) => this.#housekeeping.onDeparted(departed),
    });
    this.rateLimits = new RateLimits(
      usesRedis(config)
        ? {
            sync: (limiters) =>
              new SharedRateLimitSync({
                // Created on the first shared limit only; createRedisClient attaches the 'error' listener.
                connect: () => createRedisClient(parseRedisTopology(config.redis), deps.logger, 'rate-limit'),
                prefix: config.redis.prefix,
                limiters,
                now: () => performance.now(),
                logger: deps.logger,
                proxyId: `${this.proxyId}:${process.pid}:${Math.random().toString(36).slice(2, 10)}`,
              }),
          }
        : {
            onSharedWithoutRedis: (routeId) =>
              deps.logger.warn({ route: routeId }, 'rateLimit.shared needs Redis (redis.url, sentinels or cluster): this route limits per proxy'),
          },
    );
    this.#authTargets = new ServicePicker({
      services: { get: (name) => this.mirror.service(name) },
      endpointSets: this.endpointSets,
      balancer: config.balancer,
      timeouts: config.timeouts,
    });
    this.policyDeps = {
      metrics: this.metrics,
      rateLimits: this.rateLimits,
      instanceSlots: this.#instanceSlots,
      authClient: this.#authClient,
      authTargets: this.#authTargets,
      // Built below; auth checks report to it as forwarded requests do (a no-op while detection is off).
      outcomes: { onSuccess: (endpoint) => this.outliers.onSuccess(endpoint), onFailure: (endpoint, reason) => this.outliers.onFailure(endpoint, reason) },
    };
    this.router = new LiveRouter({
      config,
      services: { get: (name) => this.mirror.service(name) },
      endpointSets: this.endpointSets,
      policyDeps: this.policyDeps,
      logger: deps.logger,
    });
    this.#housekeeping = new Housekeeping({
      config,
      clock: this.#clock,
      logger: deps.logger,
      metrics: this.metrics,
      pool: this.pool,
      endpointSets: this.endpointSets,
      router: this.router,
      departures: this.departures,
      forgetUpstream: (address) => this.#dataPath.forgetUpstream(address),
    });
    // Per-instance counters live as long as the instance does (and while requests to it finish).
    this.mirror.onChange((service, state) => {
      this.pool.retain(service, state ? state.instances.map((i) => i.id) : []);
      if (!state || state.instances.length === 0) this.endpointSets.forget(service);
      else this.endpointSets.checkPanicSoon(service);
      this.departures.update(service, state);
    });
    // waypost_panic_mode follows health changes too, not only the next request.
    this.pool.onHealthChange((service) => this.endpointSets.checkPanicSoon(service));
    // The mirror keeps emptied services; their zeros are shown only while the departure grace runs.
    this.metrics.setEndpointCounts(() =>
      endpointCounts(this.mirror.services(), poolHealthOf(this.pool, () => this.#clock.now()), (name) => this.departures.isDeparting(name)),
    );
    this.connections = new ConnectionTracker({ drainTimeoutMs: config.drainTimeout, logger: deps.logger, clock: this.#clock });
    // Only the changed instance's own connections are ever drained; others are never touched.
    this.mirror.onChange((service, state) => this.connections.onServiceChange(service, state));
    const services = { service: (name: string) => this.mirror.service(name) };
    this.outliers = new OutlierDetector({ pool: this.pool, services, config: config.health.passive, metrics: this.metrics, logger: deps.logger, clock: this.#clock });
    this.sharedEjections =
      config.health.passive.share && this.outliers.enabled && usesRedis(config)
        ? new SharedEjections({ redis: config.redis, detector: this.outliers, logger: deps.logger })
        : undefined;
    this.healthHistory = new HealthHistory(this.#clock);
    this.#recordHealthHistory();
    this.#activeChecks = new ReloadableActiveChecker(
      { pool: this.pool, source: { service: services.service, onChange: (listener) => this.mirror.onChange(listener) }, logger: deps.logger, clock: this.#clock },
      config.health.active,
    );
    this.#dataPath = new DataPath({
      router: this.router,
      connections: this.connections,
      proxyId: this.proxyId,
      metrics: this.metrics,
      logger: deps.logger,
      outcomes: this.outliers.enabled ? this.outliers : undefined,
      services: { get: (name) => this.mirror.service(name) },
      endpointSets: this.endpointSets,
    });
    this.reloader =
      deps.configSource &&
      new ConfigReloader({ source: deps.configSource, current: () => this.#config, apply: (next) => this.applyConfig(next), metrics: this.metrics, logger: deps.logger });
  }

  /** The configuration in force (the one loaded at start, or the last one reloaded). */
  get config(): WaypostConfig {
    return this.#config;
  }

  get activeChecks(): ActiveChecker {
    return this.#activeChecks.current;
  }

  /** Active verdicts and ejections (local or shared) go into the dashboard's per-instance history. */
  #recordHealthHistory(): void {
    const history = this.healthHistory;
    this.pool.onActiveHealth((service, id, healthy) => {
      if (healthy !== undefined) history.note(service, id, healthy ? 'healthy' : 'unhealthy', healthy ? 'active check passed' : 'active check failed');
    });
    this.outliers.onEjectionApplied((e) => history.note(e.service, e.id, 'ejected', e.reason, e.durationMs));
    this.mirror.onChange((service, state) => history.retain(service, state ? state.instances.map((i) => i.id) : []));
  }

  get addresses(): AppAddresses {
    if (!this.#addresses) throw new WaypostError('closed', 'the app is not started');
    return this.#addresses;
  }

  async start(): Promise<AppAddresses> {
    const log = this.#log;
    try {
      await this.store.start();
    } catch (err) {
      throw startupError(`cannot start the ${this.store.kind} registry`, err);
    }
    await this.mirror.start();
    followRegistryRoutes(this.router, this.mirror);
    // The first snapshot arrives without change events: the departure book starts from it.
    for (const state of this.mirror.services()) this.departures.update(state.name, state);
    this.#housekeeping.start();
    // Cluster workers take active-health verdicts from the primary instead of probing N times.
    if (this.#role !== 'listeners') this.#activeChecks.start();
    await this.sharedEjections?.start();

    // Bound addresses once known; until then the configured ones (port 0 = not yet bound).
    const ownListeners = (): Address[] =>
      this.#addresses
        ? [this.#addresses.admin, ...this.#addresses.http]
        : [this.config.admin.listen, ...this.config.listen.map((listener) => listener.address)].filter((a) => a.port !== 0);
    // The Eureka and Consul modules load only when one of them is on (idle memory).
    const { compat } = this.config;
    this.#compat =
      compat.eureka || compat.consul
        ? (await import('./compat/index.js')).compatHandlers({ config: this.config, store: this.store, mirror: this.mirror, logger: log, ownListeners })
        : NO_COMPAT;
    const admin = new AdminServer({
      config: this.config,
      store: this.store,
      mirror: this.mirror,
      metrics: this.metrics,
      logger: log,
      healthOf: poolHealthOf(this.pool, () => this.#clock.now()),
      isReady: () => this.#listening,
      forbiddenTargets: ownListeners,
      proxyId: this.proxyId,
      routes: this.router,
      extraRoutes: [
        dashboardRoute(),
        ...(this.reloader ? [reloadRoute({ token: this.config.admin.token, reloader: this.reloader })] : []),
        statsRoute({
          mirror: this.mirror,
          metrics: this.metrics,
          storeKind: this.store.kind,
          source: poolStatsSource(this.pool, this.healthHistory, this.#inflightElsewhere),
          routes: [() => routeViews(this.router.list(), this.config.domains)],
        }),
      ],
      // Eureka and Consul APIs, when compat.eureka / compat.consul are on.
      extraHandlers: this.#compat.handlers,
    });
    this.#admin = admin;
    let adminAddress: Address;
    try {
      // Workers leave the single admin listener to the primary.
      adminAddress = this.#role === 'listeners' ? this.config.admin.listen : await admin.listen();
    } catch (err) {
      throw startupError('cannot bind the admin listener', err);
    }
    if (this.#role === 'registry') return this.#registryOnly(adminAddress);

    const { http: httpAddresses, tcp: tcpAddresses } = await this.#dataPath.start(this.config);
    this.#listening = true;
    this.#addresses = { admin: adminAddress, http: httpAddresses, tcp: tcpAddresses };
    log.info(
      { admin: adminAddress, http: httpAddresses, store: this.store.kind, engine: this.#dataPath.engineName, revision: this.mirror.revision },
      this.#role === 'all' ? 'waypost started' : 'worker listening',
    );
    return this.#addresses;
  }

  /** The cluster primary: the registry and admin API are up; workers bind the data path. */
  #registryOnly(admin: Address): AppAddresses {
    this.#listening = true;
    this.#addresses = { admin, http: [], tcp: [] };
    this.#log.info({ admin, store: this.store.kind, revision: this.mirror.revision }, 'registry started');
    return this.#addresses;
  }

  /** Reopen the access-log file after it was rotated away (a reload does it too). */
  reopenLogs(): void {
    this.#dataPath.reopenLogs();
  }

  /**
   * Applies a validated configuration whose restart-only fields are unchanged
   * (src/config/reload.ts): listeners, certificates, access log, routes, health settings.
   * Throws, changing nothing, when a certificate or a new address fails.
   */
  async applyConfig(next: WaypostConfig): Promise<void> {
    if (this.#stopping) throw new WaypostError('closed', 'the proxy is stopping; the reload was not applied');
    const current = this.#config;
    // Built (policies compiled, with the app's shared policy deps) before anything changes.
    const commitRoutes = this.router.prepareConfig(next);
    const commit = (): void => {
      this.#config = next;
      commitRoutes();
      this.#authTargets.reconfigure(next.balancer, next.timeouts);
      this.#housekeeping.reconfigure(next);
      this.outliers.reconfigure(next.health.passive);
      // Cluster workers take active-health verdicts from the primary.
      if (this.#role !== 'listeners') this.#activeChecks.reconfigure(next.health.active);
    };
    if (this.#role === 'registry') commit();
    else {
      await this.#dataPath.reconfigure(current, next, commit);
      if (this.#addresses) this.#addresses = { ...this.#addresses, ...this.#dataPath.addresses() };
    }
  }

  /** Graceful: stop accepting, let in-flight work finish (bounded by timeouts.grace), close the registry. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#listening = false;
      // Listeners drain first (in-flight requests finish within the grace period) while the mirror still follows the registry.
      const grace = this.config.timeouts.grace;
      await this.#dataPath.close(grace);
      await this.#authClient.close();
      await this.#admin?.close();
      this.#compat?.close();
      this.#activeChecks.close();
      this.sharedEjections?.close();
      this.rateLimits.close();
      this.outliers.close();
      this.departures.close();
      this.#housekeeping.close();
      this.mirror.close();
      await this.store.close();
    })();
    return this.#stopping;
  }

  /** Open upstream sockets and queued requests of the HTTP engine (undefined before start). */
  upstreamStats(): EngineStats | undefined {
    return this.#dataPath.upstreamStats();
  }
}

/** Start an app or fail with a WaypostError('startup'); cleans up what started. */
export async function startProxy(config: WaypostConfig, deps: AppDeps): Promise<WaypostApp> {
  const app = new WaypostApp(config, deps);
  try {
    await app.start();
  } catch (err) {
    await app.stop().catch(() => {});
    throw err;
  }
  return app;
}
