/**
 * prom-client, piece by piece (issue 21 item 4: idle memory). Its index loads every part at
 * once: the default process collectors (with @opentelemetry/api, which `process_cpu_*` requires
 * for exemplars), Summary, the Pushgateway and the cluster aggregator. Waypost's own metrics
 * need only the registry and three metric classes; the default collectors start on the first
 * scrape (startProcessMetrics), so an idle proxy that nobody scrapes never loads them.
 * test/unit/prom-parts.test.ts checks these are prom-client's own classes.
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';

const require = createRequire(import.meta.url);

export const Registry = require('prom-client/lib/registry') as typeof PromClient.Registry;
export const Counter = require('prom-client/lib/counter') as typeof PromClient.Counter;
export const Gauge = require('prom-client/lib/gauge') as typeof PromClient.Gauge;
export const Histogram = require('prom-client/lib/histogram') as typeof PromClient.Histogram;

/** The CPU counters prom-client's collector adds from the moment it starts. */
const CPU_COUNTERS = {
  process_cpu_user_seconds_total: (usage: NodeJS.CpuUsage) => usage.user,
  process_cpu_system_seconds_total: (usage: NodeJS.CpuUsage) => usage.system,
  process_cpu_seconds_total: (usage: NodeJS.CpuUsage) => usage.user + usage.system,
} as const;

/**
 * Registers prom-client's default collectors (process_*, nodejs_*) on `registry`. The CPU
 * counters are seeded with the CPU used before this call, so they count from process start as
 * if the collectors had started with the process. The GC and event-loop histograms count from
 * this call on (nothing recorded them before).
 */
export function startProcessMetrics(registry: PromClient.Registry): void {
  const before = process.cpuUsage();
  const collectDefaultMetrics = require('prom-client/lib/defaultMetrics') as typeof PromClient.collectDefaultMetrics;
  collectDefaultMetrics({ register: registry });
  for (const [name, seconds] of Object.entries(CPU_COUNTERS)) {
    (registry.getSingleMetric(name) as PromClient.Counter | undefined)?.inc(seconds(before) / 1e6);
  }
}
