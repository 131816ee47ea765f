/**
 * The metric children of one `service` label, resolved once and reused by every
 * request to that service, so the request path does no label hashing.
 */
import type { Counter, Histogram } from 'prom-client';
import type { Metrics, UpstreamErrorReason } from '../metrics.js';

/** Metric children for one service label, resolved once. */
export class ServiceMetrics {
  readonly #codes = new Map<number, Counter.Internal>();
  readonly #errors = new Map<UpstreamErrorReason, Counter.Internal>();
  readonly duration: Histogram.Internal<'service'>;
  readonly retries: Counter.Internal;

  constructor(
    readonly metrics: Metrics,
    readonly service: string,
  ) {
    this.duration = metrics.requestDuration.labels(service);
    this.retries = metrics.retries.labels(service);
  }

  request(code: number): Counter.Internal {
    let child = this.#codes.get(code);
    if (child === undefined) {
      child = this.metrics.requests.labels(this.service, String(code));
      this.#codes.set(code, child);
    }
    return child;
  }

  upstreamError(reason: UpstreamErrorReason): Counter.Internal {
    let child = this.#errors.get(reason);
    if (child === undefined) {
      child = this.metrics.upstreamErrors.labels(this.service, reason);
      this.#errors.set(reason, child);
    }
    return child;
  }
}

/** One ServiceMetrics per service label, created on first use and kept (service labels are bounded). */
export class ServiceMetricsCache {
  readonly #byService = new Map<string, ServiceMetrics>();

  constructor(readonly metrics: Metrics) {}

  of(service: string): ServiceMetrics {
    let children = this.#byService.get(service);
    if (children === undefined) {
      children = new ServiceMetrics(this.metrics, service);
      this.#byService.set(service, children);
    }
    return children;
  }
}
