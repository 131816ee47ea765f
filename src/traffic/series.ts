/**
 * TrafficSeries: the last 15 minutes of one service's (or the whole proxy's) traffic, as
 * 90 buckets of 10 seconds: requests, errors and a latency histogram per bucket.
 *
 * A ring of typed arrays indexed by `period % BUCKET_COUNT` (period = epoch ms / 10 s).
 * Rotation is lazy: a slot still holding an older period is cleared by the first write
 * of its new period, so there is no timer, and recording is a few array increments with
 * no allocation. Memory is fixed per series (latency counters allocated on first use).
 */
import { LATENCY_BUCKETS, latencyBucket, latencyQuantile } from './latency-histogram.js';

export const BUCKET_MS = 10_000;
/** 90 × 10 s = 15 minutes. */
export const BUCKET_COUNT = 90;

/**
 * One bucket's worth of traffic in transit between processes (cluster relay):
 * `[period, requests, errors, latencyBucket, count, latencyBucket, count, …]`, zero counts left out.
 */
export type SlotDelta = number[];

/** The series as JSON, oldest bucket first; the last bucket is the current, still filling one. */
export interface SeriesView {
  readonly requests: number[];
  readonly errors: number[];
  /** Median latency (ms) per bucket; null where the bucket had no requests. */
  readonly p50: (number | null)[];
  readonly p99: (number | null)[];
}

export class TrafficSeries {
  /** The period each slot holds; −1 = never used. */
  readonly #periods = new Float64Array(BUCKET_COUNT).fill(-1);
  readonly #requests = new Uint32Array(BUCKET_COUNT);
  readonly #errors = new Uint32Array(BUCKET_COUNT);
  /** BUCKET_COUNT histograms of LATENCY_BUCKETS counters, back to back. */
  #latency: Uint32Array | undefined;

  /** One answered request at `now` (epoch ms). `failed`: 5xx or upstream error. */
  record(now: number, durationMs: number, failed: boolean): void {
    this.recordIn(periodOf(now), latencyBucket(durationMs), failed);
  }

  /** record() with the period and latency bucket worked out once for several series (service and total). */
  recordIn(period: number, bucket: number, failed: boolean): void {
    const slot = this.#slotFor(period);
    if (slot < 0) return;
    this.#requests[slot]! += 1;
    if (failed) this.#errors[slot]! += 1;
    this.#latency![slot * LATENCY_BUCKETS + bucket]! += 1;
  }

  /** Adds a bucket from another process (the cluster primary merging a worker's delta). */
  add(delta: SlotDelta): void {
    const [period, requests, errors] = delta;
    if (!isCount(period) || !isCount(requests) || !isCount(errors)) return;
    const slot = this.#slotFor(period);
    if (slot < 0) return;
    this.#requests[slot]! += requests;
    this.#errors[slot]! += errors;
    const base = slot * LATENCY_BUCKETS;
    for (let i = 3; i + 1 < delta.length; i += 2) {
      const bucket = delta[i]!;
      const count = delta[i + 1]!;
      if (isCount(count) && Number.isInteger(bucket) && bucket >= 0 && bucket < LATENCY_BUCKETS) this.#latency![base + bucket]! += count;
    }
  }

  /**
   * Hands every bucket holding traffic to `visit` and clears it (a cluster worker sends
   * what it recorded since the last drain to the primary). Returns the buckets visited.
   */
  drain(visit: (delta: SlotDelta) => void): number {
    let drained = 0;
    for (let slot = 0; slot < BUCKET_COUNT; slot++) {
      if (this.#requests[slot] === 0) continue;
      const delta: SlotDelta = [this.#periods[slot]!, this.#requests[slot]!, this.#errors[slot]!];
      const base = slot * LATENCY_BUCKETS;
      for (let bucket = 0; bucket < LATENCY_BUCKETS; bucket++) {
        const count = this.#latency![base + bucket]!;
        if (count > 0) delta.push(bucket, count);
      }
      this.#clear(slot);
      visit(delta);
      drained += 1;
    }
    return drained;
  }

  /** The 90 buckets ending with the one `now` falls in, oldest first. */
  view(now: number): SeriesView {
    const last = periodOf(now);
    const view: SeriesView = { requests: [], errors: [], p50: [], p99: [] };
    for (let period = last - BUCKET_COUNT + 1; period <= last; period++) {
      const slot = period % BUCKET_COUNT;
      const held = this.#periods[slot] === period;
      const requests = held ? this.#requests[slot]! : 0;
      view.requests.push(requests);
      view.errors.push(held ? this.#errors[slot]! : 0);
      const offset = slot * LATENCY_BUCKETS;
      view.p50.push(requests > 0 ? roundMs(latencyQuantile(this.#latency!, offset, requests, 0.5)) : null);
      view.p99.push(requests > 0 ? roundMs(latencyQuantile(this.#latency!, offset, requests, 0.99)) : null);
    }
    return view;
  }

  /** Bytes held by the typed arrays (what grows with the number of series). */
  get bytes(): number {
    return this.#periods.byteLength + this.#requests.byteLength + this.#errors.byteLength + (this.#latency?.byteLength ?? 0);
  }

  /** The slot for `period`, cleared first if it held an older one; −1 if it holds a newer one (too old to keep). */
  #slotFor(period: number): number {
    const slot = period % BUCKET_COUNT;
    const held = this.#periods[slot]!;
    if (held === period) return slot;
    if (held > period) return -1;
    this.#latency ??= new Uint32Array(BUCKET_COUNT * LATENCY_BUCKETS);
    this.#clear(slot);
    this.#periods[slot] = period;
    return slot;
  }

  #clear(slot: number): void {
    this.#requests[slot] = 0;
    this.#errors[slot] = 0;
    this.#latency?.fill(0, slot * LATENCY_BUCKETS, (slot + 1) * LATENCY_BUCKETS);
  }
}

/** The 10 s period an epoch-ms time falls in. */
export function periodOf(now: number): number {
  return Math.floor(now / BUCKET_MS);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

function roundMs(ms: number | null): number | null {
  return ms === null ? null : Math.round(ms * 1000) / 1000;
}
