/**
 * Direct handles on prom-client series for the request path.
 *
 * prom-client's `labels(…)` children look their series up again on every call (hash the
 * label object, validate the labels, then update): about 1 µs per request for a count and
 * a duration. A handle here resolves the series once and then updates its numbers in
 * place, the same numbers prom-client exposes at scrape time, so a request costs a few
 * additions. It relies on prom-client 15's series objects (`hashMap` entries: counter
 * `{ value }`, histogram `{ sum, count, bucketValues }`); test/unit/metric-children.test.ts
 * fails if that changes.
 *
 * A handle is valid while its series exists: after `remove(labels)` it writes to a series
 * nobody reads, so callers drop their handles with the series (ServiceMetricsCache does,
 * through Metrics.onServicesRemoved).
 */
import type { Counter, Histogram } from 'prom-client';

export interface CounterHandle {
  inc(value?: number): void;
}

export interface HistogramHandle {
  observe(value: number): void;
}

type Labels = Record<string, string>;

interface CounterSeries {
  value: number;
  labels: Labels;
}

interface HistogramSeries {
  sum: number;
  count: number;
  labels: Labels;
  bucketValues: Record<string, number>;
}

function sameLabels(a: Labels, b: Labels): boolean {
  const keys = Object.keys(b);
  return keys.length === Object.keys(a).length && keys.every((key) => String(a[key]) === b[key]);
}

function seriesOf<S extends { labels: Labels }>(metric: unknown, labels: Labels): S {
  const series = Object.values((metric as { hashMap: Record<string, S> }).hashMap).find((entry) => sameLabels(entry.labels, labels));
  if (series === undefined) throw new Error('prom-client series not found: metric-children needs updating');
  return series;
}

class CounterChild implements CounterHandle {
  constructor(readonly series: CounterSeries) {}

  inc(value = 1): void {
    this.series.value += value;
  }
}

class HistogramChild implements HistogramHandle {
  /**
   * The bucket keys as prom-client's object holds them (`String(bound)`), made once: indexing
   * it by the number itself converts a fraction like 0.005 to its string on every observe.
   */
  readonly #keys: readonly string[];

  constructor(
    readonly series: HistogramSeries,
    readonly bounds: readonly number[],
  ) {
    this.#keys = bounds.map(String);
  }

  observe(value: number): void {
    const series = this.series;
    series.sum += value;
    series.count += 1;
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        series.bucketValues[this.#keys[i]!]! += 1;
        return;
      }
    }
  }
}

/** The series of `labels` (created at 0 if new), with an `inc` that is one addition. */
export function counterHandle(counter: Counter<string>, labels: Labels): CounterHandle {
  counter.inc(labels, 0);
  return new CounterChild(seriesOf<CounterSeries>(counter, labels));
}

/** The series of `labels` (created empty if new), with an `observe` that is a bucket search and three additions. */
export function histogramHandle(histogram: Histogram<string>, labels: Labels): HistogramHandle {
  const existing = Object.values((histogram as unknown as { hashMap: Record<string, HistogramSeries> }).hashMap).some((e) => sameLabels(e.labels, labels));
  if (!existing) histogram.zero(labels);
  return new HistogramChild(seriesOf<HistogramSeries>(histogram, labels), (histogram as unknown as { upperBounds: number[] }).upperBounds);
}
