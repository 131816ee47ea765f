/**
 * TrafficRecorder: the process's TrafficSeries, one per service plus one for the whole
 * proxy. The request path resolves a service's series once (ServiceMetrics caches it)
 * and records into it and the total; the dashboard reads `view()`.
 *
 * Bounded: a series exists per service that got traffic, and is dropped with the rest
 * of a departed service's state (Metrics.removeServices).
 */
import { BUCKET_COUNT, BUCKET_MS, TrafficSeries, periodOf, type SeriesView, type SlotDelta } from './series.js';
import { wallClockMs } from '../wall-clock.js';

/** What a cluster worker sends the primary: every bucket recorded since its last drain. */
export interface TrafficDelta {
  readonly total: SlotDelta[];
  readonly services: [service: string, slots: SlotDelta[]][];
}

export interface TrafficView {
  /** When this view was taken (epoch ms): the last bucket has run for `at − its start`. */
  readonly at: number;
  readonly bucketSeconds: number;
  /** Start of the oldest bucket (epoch ms); bucket i starts at start + i × bucketSeconds. */
  readonly start: number;
  readonly total: SeriesView;
}

/** Whole milliseconds since the epoch, within one of Date.now(). */
function wholeWallClockMs(): number {
  return Math.floor(wallClockMs());
}

export class TrafficRecorder {
  /** Every request the proxy answered, routed or not. */
  readonly total = new TrafficSeries();
  readonly #services = new Map<string, TrafficSeries>();

  /** @param now epoch ms (injected for tests); by default the request path's cheap wall clock (wall-clock.ts) */
  constructor(readonly now: () => number = wholeWallClockMs) {}

  /** The series of `service`, made on first use. */
  service(service: string): TrafficSeries {
    let series = this.#services.get(service);
    if (series === undefined) {
      series = new TrafficSeries();
      this.#services.set(service, series);
    }
    return series;
  }

  /** The series of `service` if it has one (readers must not create state). */
  peek(service: string): TrafficSeries | undefined {
    return this.#services.get(service);
  }

  services(): IterableIterator<string> {
    return this.#services.keys();
  }

  remove(services: Iterable<string>): void {
    for (const service of services) this.#services.delete(service);
  }

  /** The whole-proxy series and the window's timing. */
  view(): TrafficView {
    const now = this.now();
    return {
      at: now,
      bucketSeconds: BUCKET_MS / 1000,
      start: (periodOf(now) - BUCKET_COUNT + 1) * BUCKET_MS,
      total: this.total.view(now),
    };
  }

  /** Everything recorded since the last drain, cleared here (undefined when there was nothing). */
  drain(): TrafficDelta | undefined {
    const delta: TrafficDelta = { total: [], services: [] };
    this.total.drain((slot) => delta.total.push(slot));
    for (const [service, series] of this.#services) {
      const slots: SlotDelta[] = [];
      series.drain((slot) => slots.push(slot));
      if (slots.length > 0) delta.services.push([service, slots]);
    }
    return delta.total.length > 0 || delta.services.length > 0 ? delta : undefined;
  }

  /** Adds a worker's delta. Input crosses a process boundary, so its shape is checked. */
  merge(delta: TrafficDelta): void {
    if (!Array.isArray(delta?.total) || !Array.isArray(delta.services)) return;
    for (const slot of delta.total) if (Array.isArray(slot)) this.total.add(slot);
    for (const entry of delta.services) {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string' || !Array.isArray(entry[1])) continue;
      const series = this.service(entry[0]);
      for (const slot of entry[1]) if (Array.isArray(slot)) series.add(slot);
    }
  }

  /** Bytes held by all series' counters. */
  get bytes(): number {
    let bytes = this.total.bytes;
    for (const series of this.#services.values()) bytes += series.bytes;
    return bytes;
  }
}
