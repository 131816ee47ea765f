/**
 * /metrics with workers: the primary's admin API answers with one exposition that merges
 * its own registry with every worker's (asked over IPC at scrape time), using prom-client's
 * AggregatorRegistry.aggregate: counters and histograms are summed, gauges per worker summed.
 *
 * The registry-side series (mirror events, propagation, connection, endpoints by state,
 * self-preservation) come from the primary only: every worker mirrors the same registry,
 * so summing theirs would count each change once per worker. The config reload series too:
 * the primary reloads once for all workers.
 */
import client, { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { Metrics, type MetricsOptions } from '../metrics.js';

type MetricJson = MetricObjectWithValues<MetricValue<string>>;

/** Series only the primary reports. */
const PRIMARY_ONLY = new Set([
  'waypost_registry_events_total',
  'waypost_registry_connected',
  'waypost_registry_propagation_seconds',
  'waypost_endpoints',
  'waypost_self_preservation',
  // The primary reads, validates and hands out the configuration: one reload, counted once.
  'waypost_config_reloads_total',
  'waypost_config_last_reload_success_timestamp_seconds',
]);

/** 1 while any worker sees the service in panic: the maximum, not the sum. */
const MAX_OVER_WORKERS = new Set(['waypost_panic_mode']);

/** A worker's share of the exposition (what it sends the primary). */
export async function workerMetricsJson(metrics: Metrics): Promise<MetricJson[]> {
  metrics.collectProcessMetrics();
  const all = (await metrics.registry.getMetricsAsJSON()) as MetricJson[];
  return all.filter((metric) => !PRIMARY_ONLY.has(metric.name));
}

export type WorkerMetricsSource = () => Promise<MetricJson[][]>;

type RequestCount = Awaited<ReturnType<Metrics['requestCounts']>>[number];

/** Every worker's waypost_requests_total values (one list per worker that answered). */
export type WorkerRequestCountSource = () => Promise<(readonly RequestCount[])[]>;

/** The primary's Metrics: `text()` is the merged exposition of primary and workers. */
export class ClusterMetrics extends Metrics {
  #workers: WorkerMetricsSource = async () => [];
  #requestCounts: WorkerRequestCountSource = async () => [];

  constructor(options: MetricsOptions = {}) {
    super(options);
  }

  setWorkerSource(source: WorkerMetricsSource, requestCounts?: WorkerRequestCountSource): void {
    this.#workers = source;
    if (requestCounts) this.#requestCounts = requestCounts;
  }

  /** The workers' counts: the primary answers no requests itself. */
  override async requestCounts(): Promise<readonly RequestCount[]> {
    return (await this.#requestCounts()).flat();
  }

  override async text(): Promise<string> {
    this.collectProcessMetrics();
    const own = (await this.registry.getMetricsAsJSON()) as MetricJson[];
    // The primary serves no requests: its (empty) request-path metrics would only repeat the names.
    const primary = own.filter((metric) => PRIMARY_ONLY.has(metric.name) || !metric.name.startsWith('waypost_'));
    const workers = await this.#workers();
    const parts = [primary, ...workers].map((list) =>
      list.map((metric) => (MAX_OVER_WORKERS.has(metric.name) ? { ...metric, aggregator: 'max' as const } : metric)),
    );
    return AggregatorRegistry.aggregate(parts).metrics();
  }

  override get contentType(): string {
    return client.register.contentType;
  }
}
