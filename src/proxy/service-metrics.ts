/**
 * The metric children of one `service` label, resolved once and reused by every
 * request to that service, so the request path does no label hashing.
 */
import type { Counter } from 'prom-client';
import type { Metrics, UpstreamErrorReason } from '../metrics.js';
import { counterHandle, histogramHandle, type CounterHandle, type HistogramHandle } from '../metric-children.js';
import { latencyBucket } from '../traffic/latency-histogram.js';
import { periodOf, type TrafficSeries } from '../traffic/series.js';

/** Metric children for one service label, resolved once. */
export class ServiceMetrics {
  readonly #codes = new Map<number, CounterHandle>();
  readonly #errors = new Map<UpstreamErrorReason, CounterHandle>();
  readonly #grpcCodes = new Map<number, CounterHandle>();
  readonly duration: HistogramHandle;
  readonly retries: CounterHandle;
  /** The dashboard's 15-minute series of this service. */
  readonly traffic: TrafficSeries;

  constructor(
    readonly metrics: Metrics,
    readonly service: string,
  ) {
    this.duration = histogramHandle(metrics.requestDuration, { service });
    this.retries = counterHandle(metrics.retries, { service });
    this.traffic = metrics.traffic.service(service);
  }

  /** One answered request into the dashboard's series: this service's and the whole proxy's. */
  recordTraffic(durationMs: number, failed: boolean): void {
    const recorder = this.metrics.traffic;
    const period = periodOf(recorder.now());
    const bucket = latencyBucket(durationMs);
    this.traffic.recordIn(period, bucket, failed);
    recorder.total.recordIn(period, bucket, failed);
  }

  request(code: number): CounterHandle {
    return childOf(this.#codes, code, this.metrics.requests, this.service, 'code');
  }

  grpcResponse(code: number): CounterHandle {
    return childOf(this.#grpcCodes, code, this.metrics.grpcResponses, this.service, 'grpc_code');
  }

  upstreamError(reason: UpstreamErrorReason): CounterHandle {
    return childOf(this.#errors, reason, this.metrics.upstreamErrors, this.service, 'reason');
  }
}

/**
 * The cached child of `counter` for (service, key), made (labels hashed) only the first
 * time; a hit allocates nothing (no closure, no label string).
 */
function childOf<K extends string | number>(cache: Map<K, CounterHandle>, key: K, counter: Counter<string>, service: string, label: string): CounterHandle {
  let child = cache.get(key);
  if (child === undefined) {
    child = counterHandle(counter, { service, [label]: String(key) });
    cache.set(key, child);
  }
  return child;
}

/**
 * ServiceMetrics by service name, for the request path. An entry lives as long as
 * its service's series: when the series of departed services are removed
 * (Metrics.removeServices) their entries go too, so the map follows the registry
 * instead of growing with every name ever routed to; a service that returns gets
 * fresh children on its next request.
 */
export class ServiceMetricsCache {
  readonly #entries = new Map<string, ServiceMetrics>();

  constructor(readonly metrics: Metrics) {
    metrics.onServicesRemoved((services) => {
      for (const service of services) this.#entries.delete(service);
    });
  }

  of(service: string): ServiceMetrics {
    let entry = this.#entries.get(service);
    if (entry === undefined) {
      entry = new ServiceMetrics(this.metrics, service);
      this.#entries.set(service, entry);
    }
    return entry;
  }

  /** Services with cached children (for tests). */
  get size(): number {
    return this.#entries.size;
  }
}
