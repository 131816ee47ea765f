/**
 * Every Prometheus metric Waypost exposes (names are API: DESIGN §6). One
 * `Metrics` per process owns its own prom-client Registry, so several proxies can
 * run in one test process without sharing series.
 *
 * Labels never carry unbounded values: `service` is a registered service name or
 * the fixed `UNROUTED` label, `code` is a status code, `grpc_code` a gRPC status
 * code (a number the proxy parsed, 0-16), `reason` comes from UPSTREAM_ERROR_REASONS.
 */
import type { Gauge as PromGauge } from 'prom-client';
import { Counter, Gauge, Histogram, Registry, startProcessMetrics } from './prom-parts.js';
import { TrafficRecorder } from './traffic/recorder.js';

/** Label for requests that matched no route (unknown hosts, stray paths). */
export const UNROUTED = '_unrouted';

export const UPSTREAM_ERROR_REASONS = [
  'connect_refused',
  'connect_timeout',
  'header_timeout',
  'idle_timeout',
  'reset',
  'protocol',
  'other',
] as const;
export type UpstreamErrorReason = (typeof UPSTREAM_ERROR_REASONS)[number];

export const ENDPOINT_STATES = ['healthy', 'unhealthy', 'ejected', 'draining'] as const;
export type EndpointState = (typeof ENDPOINT_STATES)[number];

export type EndpointCountSource = () => Iterable<{ service: string; state: EndpointState; count: number }>;

/** Told after the series of departed services were removed (caches of metric children drop theirs). */
export type ServicesRemovedListener = (services: ReadonlySet<string>) => void;

/** A labelled prom-client metric as `removeServices` handles it (every metric class fits). */
interface LabelledMetric {
  readonly labelNames?: readonly string[];
  readonly collect?: unknown;
  get(): Promise<{ values: readonly { labels: Partial<Record<string, string | number>> }[] }>;
  remove(labels: Record<string, string | number>): void;
}

export interface MetricsOptions {
  /**
   * Expose prom-client's default process metrics (off in unit tests for speed): started on the
   * first read of the registry (collectProcessMetrics), not at construction. @default true
   */
  processMetrics?: boolean;
  /** Epoch ms for the dashboard's traffic series. @default Date.now */
  now?: () => number;
}

export class Metrics {
  readonly registry = new Registry();

  readonly requests = new Counter({
    name: 'waypost_requests_total',
    help: 'Requests answered by the proxy, by service and HTTP status code.',
    labelNames: ['service', 'code'] as const,
    registers: [this.registry],
  });

  readonly requestDuration = new Histogram({
    name: 'waypost_request_duration_seconds',
    help: 'Time from request received to response finished, by service.',
    labelNames: ['service'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly upstreamErrors = new Counter({
    name: 'waypost_upstream_errors_total',
    help: 'Failed attempts to reach an upstream instance, by service and reason.',
    labelNames: ['service', 'reason'] as const,
    registers: [this.registry],
  });

  readonly grpcResponses = new Counter({
    name: 'waypost_grpc_responses_total',
    help: 'gRPC calls answered, by service and grpc-status code (from the backend or made by the proxy).',
    labelNames: ['service', 'grpc_code'] as const,
    registers: [this.registry],
  });

  readonly tracingSpans = new Counter({
    name: 'waypost_tracing_spans_total',
    help: 'Finished trace spans by what became of them: exported to the collector, or dropped (queue full, collector down or slow).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly retries = new Counter({
    name: 'waypost_retries_total',
    help: 'Requests retried on another instance after a failed attempt.',
    labelNames: ['service'] as const,
    registers: [this.registry],
  });

  readonly rateLimited = new Counter({
    name: 'waypost_rate_limited_total',
    help: 'Requests refused with 429 rate_limited by a route\'s rateLimit, by service.',
    labelNames: ['service'] as const,
    registers: [this.registry],
  });

  readonly retryBudgetExhausted = new Counter({
    name: 'waypost_retry_budget_exhausted_total',
    help: 'Retries not sent because the route’s retry budget was spent (retry.budget), by service.',
    labelNames: ['service'] as const,
    registers: [this.registry],
  });

  readonly pendingRequests = new Gauge({
    name: 'waypost_pending_requests',
    help: 'Requests waiting for a free instance under a route’s concurrency limit, by service.',
    labelNames: ['service'] as const,
    registers: [this.registry],
  });

  readonly overloadRejections = new Counter({
    name: 'waypost_overload_rejections_total',
    help: 'Requests answered 503 overloaded by a route’s concurrency limit (queue full or queueTimeout), by service.',
    labelNames: ['service'] as const,
    registers: [this.registry],
  });

  /** forward-auth checks by the route's service: allowed (2xx), denied (answer relayed), failed (503 auth_unavailable). */
  readonly authRequests = new Counter({
    name: 'waypost_auth_requests_total',
    help: 'Forward-auth checks, by the service of the route and result (allowed, denied, failed).',
    labelNames: ['service', 'result'] as const,
    registers: [this.registry],
  });

  #endpointCounts: EndpointCountSource | undefined;
  /** True until prom-client's process collectors are started (on the first scrape). */
  #processMetrics: boolean;
  readonly #removedListeners = new Set<ServicesRemovedListener>();

  readonly endpoints: PromGauge<'service' | 'state'> = new Gauge({
    name: 'waypost_endpoints',
    help: 'Instances known to this proxy, by service and health state.',
    labelNames: ['service', 'state'] as const,
    registers: [this.registry],
    // Read from the snapshot at scrape time, never updated per request.
    collect: () => {
      if (!this.#endpointCounts) return;
      this.endpoints.reset();
      for (const { service, state, count } of this.#endpointCounts()) this.endpoints.set({ service, state }, count);
    },
  });

  readonly registryEvents = new Counter({
    name: 'waypost_registry_events_total',
    help: 'Registry change events applied to this proxy’s mirror, by type (resync counts full reloads).',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });

  readonly registryConnected = new Gauge({
    name: 'waypost_registry_connected',
    help: '1 while the registry backend is reachable, else 0.',
    registers: [this.registry],
  });

  readonly activeConnections = new Gauge({
    name: 'waypost_active_connections',
    help: 'Open client connections, by listener.',
    labelNames: ['listener'] as const,
    registers: [this.registry],
  });

  readonly panicMode = new Gauge({
    name: 'waypost_panic_mode',
    help: '1 while too few of a service’s instances are healthy and the balancer uses all of them.',
    labelNames: ['service'] as const,
    registers: [this.registry],
  });

  readonly ejections = new Counter({
    name: 'waypost_ejections_total',
    help: 'Instances ejected by passive outlier detection, by service.',
    labelNames: ['service'] as const,
    registers: [this.registry],
  });

  readonly selfPreservation = new Gauge({
    name: 'waypost_self_preservation',
    help: '1 while lease expiry is held for a service because too many instances would expire at once.',
    labelNames: ['service'] as const,
    registers: [this.registry],
  });

  readonly registryPropagation = new Histogram({
    name: 'waypost_registry_propagation_seconds',
    help: 'Time from a registry write to its change being applied in this proxy’s mirror.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  /** The last 15 minutes of traffic in 10 s buckets, for the dashboard (not exposed to Prometheus). */
  readonly traffic: TrafficRecorder;

  /** `POST /v1/admin/reload` and SIGHUP; `result` is `success` or `failure` (nothing changed). */
  readonly configReloads = new Counter({
    name: 'waypost_config_reloads_total',
    help: 'Configuration reloads by result: success (applied) or failure (refused; the previous configuration stays).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  /** As Prometheus's own: set when the configuration is first loaded, then at each successful reload. */
  readonly configLastReloadSuccess = new Gauge({
    name: 'waypost_config_last_reload_success_timestamp_seconds',
    help: 'Unix time of the last successful configuration load (start or reload).',
    registers: [this.registry],
  });

  constructor(options: MetricsOptions = {}) {
    this.traffic = new TrafficRecorder(options.now);
    this.#processMetrics = options.processMetrics ?? true;
    this.registryConnected.set(0);
    // Both series exist from the start, so a failure rate can be computed before the first reload.
    for (const result of ['success', 'failure']) this.configReloads.labels(result).inc(0);
  }

  /**
   * The values of waypost_requests_total (service, code) answered by this process's requests;
   * the cluster primary's (ipc-metrics.ts) are its workers'. For /v1/stats.
   */
  async requestCounts(): Promise<readonly { labels: Partial<Record<string, string | number>>; value: number }[]> {
    return (await this.requests.get()).values;
  }

  /** Where `waypost_endpoints` reads its values at scrape time. */
  setEndpointCounts(source: EndpointCountSource): void {
    this.#endpointCounts = source;
  }

  /**
   * Remove every series labelled with one of `services` from every metric that has a
   * `service` label (requests by code, errors by reason, duration, retries, panic,
   * ejections, self-preservation, and any added later), then tell the listeners.
   * One pass over each metric's series per batch, so a mass deregistration costs
   * O(series), not O(services × series).
   */
  async removeServices(services: ReadonlySet<string>): Promise<void> {
    if (services.size === 0) return;
    await this.#eachServiceSeries((metric, service, labels) => {
      if (!services.has(service)) return;
      // Histograms list one value per bucket; `le` is not one of their label names.
      const { le: _bucket, ...series } = labels;
      metric.remove(series as Record<string, string | number>);
    });
    this.traffic.remove(services);
    for (const listener of this.#removedListeners) listener(services);
  }

  /** Every `service` label value that has a series now (one pass over the series). */
  async serviceLabels(): Promise<Set<string>> {
    const services = new Set<string>();
    await this.#eachServiceSeries((_metric, service) => services.add(service));
    for (const service of this.traffic.services()) services.add(service);
    return services;
  }

  /** Caches of metric children subscribe here so a departed service's entry goes with its series. */
  onServicesRemoved(listener: ServicesRemovedListener): () => void {
    this.#removedListeners.add(listener);
    return () => this.#removedListeners.delete(listener);
  }

  /** Calls `fn` for each value of each service-labelled metric, except scrape-time gauges (rebuilt at every scrape). */
  async #eachServiceSeries(fn: (metric: LabelledMetric, service: string, labels: Partial<Record<string, string | number>>) => void): Promise<void> {
    for (const metric of this.registry.getMetricsAsArray() as unknown as LabelledMetric[]) {
      if (!metric.labelNames?.includes('service') || typeof metric.collect === 'function') continue;
      const { values } = await metric.get();
      for (const { labels } of values) if (typeof labels.service === 'string') fn(metric, labels.service, labels);
    }
  }

  /**
   * Starts prom-client's process collectors (process_*, nodejs_*) the first time: an idle proxy
   * nobody scrapes never loads them (src/prom-parts.ts). Call before reading the registry whole.
   */
  collectProcessMetrics(): void {
    if (!this.#processMetrics) return;
    this.#processMetrics = false;
    startProcessMetrics(this.registry);
  }

  /** Prometheus text exposition. */
  text(): Promise<string> {
    this.collectProcessMetrics();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
