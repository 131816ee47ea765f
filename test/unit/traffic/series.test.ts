import { describe, expect, test } from 'vitest';
import { LATENCY_BUCKETS, bucketValueMs, latencyBucket } from '../../../src/traffic/latency-histogram.js';
import { Metrics } from '../../../src/metrics.js';
import { TrafficRecorder } from '../../../src/traffic/recorder.js';
import { BUCKET_COUNT, BUCKET_MS, TrafficSeries } from '../../../src/traffic/series.js';

/** A period boundary, so offsets below land where the test says. */
const T0 = 1_800_000_000_000 - (1_800_000_000_000 % BUCKET_MS);

describe('TrafficSeries buckets', () => {
  test('requests land in the 10 s bucket of their time and the newest bucket is last', () => {
    const series = new TrafficSeries();
    series.record(T0, 1, false);
    series.record(T0 + 9_999, 1, true);
    series.record(T0 + BUCKET_MS, 1, false);
    const view = series.view(T0 + BUCKET_MS);
    expect(view.requests).toHaveLength(BUCKET_COUNT);
    expect(view.requests.slice(-2)).toEqual([2, 1]);
    expect(view.errors.slice(-2)).toEqual([1, 0]);
    expect(view.requests.slice(0, -2).every((n) => n === 0)).toBe(true);
    expect(view.p50.slice(0, -2).every((p) => p === null)).toBe(true);
  });

  test('a bucket older than 15 minutes leaves the window and its slot is reused cleared', () => {
    const series = new TrafficSeries();
    series.record(T0, 5, true);
    expect(series.view(T0 + (BUCKET_COUNT - 1) * BUCKET_MS).requests[0]).toBe(1);
    const later = T0 + BUCKET_COUNT * BUCKET_MS; // same slot, next lap of the ring
    expect(series.view(later).requests.reduce((a, b) => a + b, 0)).toBe(0);
    series.record(later, 5, false);
    const view = series.view(later);
    expect(view.requests.at(-1)).toBe(1);
    expect(view.errors.at(-1)).toBe(0);
  });

  test('a late write for a bucket whose slot already moved on is dropped, not mixed into the newer one', () => {
    const series = new TrafficSeries();
    const later = T0 + BUCKET_COUNT * BUCKET_MS;
    series.record(later, 1, false);
    series.record(T0, 1, true);
    expect(series.view(later).requests.at(-1)).toBe(1);
    expect(series.view(later).errors.at(-1)).toBe(0);
  });

  test('after an idle gap the skipped buckets read zero', () => {
    const series = new TrafficSeries();
    for (let i = 0; i < BUCKET_COUNT; i++) series.record(T0 + i * BUCKET_MS, 1, false);
    const now = T0 + (BUCKET_COUNT + 30) * BUCKET_MS;
    series.record(now, 1, false);
    const view = series.view(now);
    expect(view.requests.slice(-31)).toEqual([...Array(30).fill(0), 1]);
    expect(view.requests.slice(0, -31).every((n) => n === 1)).toBe(true);
  });
});

describe('latency percentiles', () => {
  test.each([
    ['uniform 1-100 ms', (i: number) => 1 + (i % 100)],
    ['sub-millisecond', (i: number) => 0.2 + (i % 50) / 100],
    ['long tail', (i: number) => (i % 100 === 0 ? 2_000 : 3 + (i % 7))],
    ['seconds', (i: number) => 1_000 + (i % 30) * 1_000],
  ])('p50 and p99 of %s are within the histogram bound (2^¼) of the exact values', (_name, latency) => {
    const series = new TrafficSeries();
    const samples: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      samples.push(latency(i));
      series.record(T0, latency(i), false);
    }
    samples.sort((a, b) => a - b);
    const exact = (q: number): number => samples[Math.ceil(q * samples.length) - 1]!;
    const view = series.view(T0);
    for (const [q, got] of [
      [0.5, view.p50.at(-1)!],
      [0.99, view.p99.at(-1)!],
    ] as const) {
      expect(got / exact(q)).toBeGreaterThanOrEqual(2 ** -0.25 - 0.001);
      expect(got / exact(q)).toBeLessThanOrEqual(2 ** 0.25 + 0.001);
    }
  });

  test('every latency reads back within 2^¼ of itself between 0.1 ms and 50 s', () => {
    for (let ms = 0.1; ms < 50_000; ms *= 1.07) {
      const ratio = bucketValueMs(latencyBucket(ms)) / ms;
      expect(ratio).toBeGreaterThanOrEqual(2 ** -0.25 - 1e-9);
      expect(ratio).toBeLessThanOrEqual(2 ** 0.25 + 1e-9);
    }
    expect(latencyBucket(Number.NaN)).toBe(0);
    expect(latencyBucket(-1)).toBe(0);
    expect(latencyBucket(1e9)).toBe(LATENCY_BUCKETS - 1);
  });
});

describe('memory', () => {
  test('a series holds a fixed number of bytes however long and busy it runs', () => {
    const series = new TrafficSeries();
    series.record(T0, 1, false);
    const bytes = series.bytes;
    for (let i = 0; i < 3 * BUCKET_COUNT * 10; i++) series.record(T0 + i * 1_000, i % 1000, i % 3 === 0);
    expect(series.bytes).toBe(bytes);
  });

  test('1,000 busy services fit in a bounded, printed amount of memory and departed ones are dropped', () => {
    let now = T0;
    const recorder = new TrafficRecorder(() => now);
    const idle = recorder.bytes;
    for (let s = 0; s < 1_000; s++) recorder.service(`svc-${s}`).record(now, 1 + (s % 50), false);
    for (let i = 0; i < BUCKET_COUNT; i++, now += BUCKET_MS) for (let s = 0; s < 1_000; s += 7) recorder.service(`svc-${s}`).record(now, 2, false);
    const bytes = recorder.bytes - idle;
    console.log(`traffic ring buffers: ${(bytes / 1024 / 1024).toFixed(1)} MiB for 1,000 services (${Math.round(bytes / 1_000)} bytes each)`);
    expect(bytes / 1_000).toBeLessThan(16 * 1024);
    recorder.remove([...recorder.services()]);
    expect(recorder.bytes).toBe(idle);
  });
});

describe('cluster relay', () => {
  test('what workers drain adds up on the primary and a drained worker starts from zero', () => {
    const now = T0 + 5 * BUCKET_MS;
    const workers = [new TrafficRecorder(() => now), new TrafficRecorder(() => now)];
    const primary = new TrafficRecorder(() => now);
    workers.forEach((worker, w) => {
      for (let i = 0; i < 10; i++) {
        worker.service('orders').record(now - BUCKET_MS, 4, false);
        worker.total.record(now - BUCKET_MS, 4, false);
      }
      worker.service('orders').record(now, 400, w === 1);
      worker.total.record(now, 400, w === 1);
      primary.merge(JSON.parse(JSON.stringify(worker.drain())));
      expect(worker.drain()).toBeUndefined();
    });
    const orders = primary.peek('orders')!.view(now);
    expect(orders.requests.slice(-2)).toEqual([20, 2]);
    expect(orders.errors.slice(-2)).toEqual([0, 1]);
    expect(orders.p50.at(-2)).toBeCloseTo(4, -0.5);
    expect(orders.p99.at(-1)! / 400).toBeGreaterThan(0.8);
    expect(primary.view().total.requests.slice(-2)).toEqual([20, 2]);
  });

  test('a malformed delta from a worker is ignored, not thrown on', () => {
    const primary = new TrafficRecorder(() => T0);
    for (const bad of [null, {}, { total: 'x', services: [] }, { total: [[-1, 1, 0]], services: [[1, []], ['a', [['x']]], ['b', [[T0 / BUCKET_MS, 1, 0, 99, 1]]]] }]) {
      expect(() => primary.merge(bad as never)).not.toThrow();
    }
    expect(primary.peek('b')!.view(T0).requests.at(-1)).toBe(1);
    expect(primary.view().total.requests.every((n) => n === 0)).toBe(true);
  });
});

describe('with Metrics', () => {
  test('a departed service’s series goes with its metric series; a series alone still names its service for the stray sweep', async () => {
    const metrics = new Metrics({ processMetrics: false, now: () => T0 });
    metrics.traffic.service('orders').record(T0, 1, false);
    metrics.traffic.service('users').record(T0, 1, false);
    expect(await metrics.serviceLabels()).toEqual(new Set(['orders', 'users']));
    await metrics.removeServices(new Set(['orders']));
    expect(metrics.traffic.peek('orders')).toBeUndefined();
    expect(metrics.traffic.peek('users')).toBeDefined();
  });
});
