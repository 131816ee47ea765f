/**
 * `GET /v1/stats`: what the dashboard shows beyond the registry API, in one call.
 * Registry connection state and revision come from the mirror; per-service panic,
 * self-preservation, ejection and request counts from the process's own metrics;
 * per-instance live counters (in-flight, recent error rate) from an injected
 * StatsSource, because only the proxy's health pool knows them.
 *
 * The last 15 minutes of traffic (10 s buckets: requests, errors, p50/p99 latency)
 * come from the metrics' TrafficRecorder, for the whole proxy and per service; the
 * route table from injected lists, each route naming its source.
 *
 * Read at human pace (the dashboard polls every 1.5 s): it walks the mirror and
 * the bounded metric label sets, never the request path.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HealthEvent, HealthHistory } from '../health/history.js';
import type { EndpointPool } from '../health/state.js';
import type { Metrics } from '../metrics.js';
import type { RegistryMirror } from '../mirror/mirror.js';
import type { TrafficView } from '../traffic/recorder.js';
import type { SeriesView } from '../traffic/series.js';
import { sendJson } from './body.js';
import type { RouteView } from './route-list.js';
import type { AdminRoute } from './server.js';

export const STATS_PATH = '/v1/stats';

export interface InstanceLiveStats {
  /** Requests (HTTP) or connections (TCP, WebSocket) open to the instance right now. */
  readonly inflight: number;
  /** Share of failed attempts (0–1) over a recent window; omitted when not measured. */
  readonly recentErrorRate?: number;
  /** Recent health changes with their reason, newest last. */
  readonly history?: readonly HealthEvent[];
}

/** The proxy's live per-instance counters. Must be O(1) per call and never create state. */
export interface StatsSource {
  /** undefined when the proxy keeps no counters for it (never routed to, or not a proxy). */
  instance(service: string, id: string): InstanceLiveStats | undefined;
}

/**
 * The proxy's health pool as a StatsSource (in-flight counts; no error rate is kept there
 * yet), with each instance's health history when given one, and in-flight requests counted
 * by other processes (a cluster primary's workers) added in.
 */
export function poolStatsSource(pool: EndpointPool, history?: HealthHistory, inflightElsewhere?: (service: string, id: string) => number): StatsSource {
  return {
    instance(service, id) {
      const stats = pool.peek(service, id);
      const events = history?.of(service, id) ?? [];
      const elsewhere = inflightElsewhere?.(service, id) ?? 0;
      if (stats === undefined && events.length === 0 && inflightElsewhere === undefined) return undefined;
      const inflight = (stats?.inflight ?? 0) + elsewhere;
      return events.length === 0 ? { inflight } : { inflight, history: events };
    },
  };
}

export interface StatsRouteOptions {
  mirror: RegistryMirror;
  metrics: Metrics;
  /** `memory` or `redis`, shown as is. */
  storeKind?: string;
  source?: StatsSource;
  /** Lists of routes to show, one per source (route-list.ts routeViews). */
  routes?: readonly (() => readonly RouteView[])[];
}

export interface InstanceStatsView {
  readonly id: string;
  readonly inflight: number | null;
  readonly recentErrorRate: number | null;
  readonly history: readonly HealthEvent[];
}

export interface ServiceStatsView {
  readonly name: string;
  readonly revision: number;
  readonly panic: boolean;
  readonly selfPreservation: boolean;
  /** Ejections since this process started (counter). */
  readonly ejections: number;
  /** Requests answered since this process started (counter); clients derive rates from two reads. */
  readonly requests: number;
  /** Of those, answered with a 5xx status. */
  readonly errors: number;
  /** The last 15 minutes in the buckets of StatsView.traffic; null before its first request. */
  readonly traffic: SeriesView | null;
  readonly instances: readonly InstanceStatsView[];
}

export interface StatsView {
  readonly registry: {
    readonly store: string | null;
    readonly connected: boolean;
    readonly synced: boolean;
    readonly revision: number;
  };
  readonly services: readonly ServiceStatsView[];
  /** The bucket timing and the whole proxy's series (every answered HTTP request, routed or not). */
  readonly traffic: TrafficView;
  readonly routes: readonly RouteView[];
}

export function statsRoute(options: StatsRouteOptions): AdminRoute {
  return {
    method: 'GET',
    path: STATS_PATH,
    async handle(_req: IncomingMessage, res: ServerResponse): Promise<void> {
      sendJson(res, 200, await collectStats(options));
    },
  };
}

export async function collectStats(options: StatsRouteOptions): Promise<StatsView> {
  const { mirror, metrics, source } = options;
  const [panic, held, ejections, requests] = await Promise.all([
    metrics.panicMode.get(),
    metrics.selfPreservation.get(),
    metrics.ejections.get(),
    metrics.requestCounts(),
  ]);
  const panicBy = byService(panic.values);
  const heldBy = byService(held.values);
  const ejectionsBy = byService(ejections.values);
  const requestsBy = new Map<string, { requests: number; errors: number }>();
  for (const { labels, value } of requests) {
    const service = String(labels.service ?? '');
    const entry = requestsBy.get(service) ?? { requests: 0, errors: 0 };
    entry.requests += value;
    if (Number(labels.code) >= 500) entry.errors += value;
    requestsBy.set(service, entry);
  }

  const traffic = metrics.traffic.view();
  const services: ServiceStatsView[] = [];
  for (const state of mirror.services()) {
    if (state.instances.length === 0) continue;
    const counts = requestsBy.get(state.name);
    services.push({
      name: state.name,
      revision: state.revision,
      panic: (panicBy.get(state.name) ?? 0) > 0,
      selfPreservation: (heldBy.get(state.name) ?? 0) > 0,
      ejections: ejectionsBy.get(state.name) ?? 0,
      requests: counts?.requests ?? 0,
      errors: counts?.errors ?? 0,
      traffic: metrics.traffic.peek(state.name)?.view(traffic.at) ?? null,
      instances: state.instances.map((record) => {
        const live = source?.instance(state.name, record.id);
        return {
          id: record.id,
          inflight: live ? live.inflight : null,
          recentErrorRate: live?.recentErrorRate ?? null,
          history: live?.history ?? [],
        };
      }),
    });
  }
  services.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    registry: { store: options.storeKind ?? null, connected: mirror.connected, synced: mirror.synced, revision: mirror.revision },
    services,
    traffic,
    routes: (options.routes ?? []).flatMap((list) => list()),
  };
}

function byService(values: readonly { labels: Partial<Record<string, string | number>>; value: number }[]): Map<string, number> {
  const map = new Map<string, number>();
  for (const { labels, value } of values) {
    const service = String(labels.service ?? '');
    map.set(service, (map.get(service) ?? 0) + value);
  }
  return map;
}
