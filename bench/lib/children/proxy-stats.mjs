/**
 * Preloaded into a proxy under test by bench/stability.ts (NODE_OPTIONS=--import=this file):
 * once a second it appends one JSON line to PROXY_STATS_FILE with what the process itself
 * saw in that second: GC pause time by kind, the event loop's worst delay, heap used and the
 * count of live handles. Plain JavaScript so the proxy needs no TypeScript loader.
 */
import { openSync, writeSync } from 'node:fs';
import { PerformanceObserver, constants, monitorEventLoopDelay } from 'node:perf_hooks';

const file = process.env.PROXY_STATS_FILE;
if (file) {
  const fd = openSync(file, 'a');
  let minorMs = 0;
  let majorMs = 0;
  let collections = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      collections++;
      // Scavenges are "minor"; mark-compact, incremental marking and weak callbacks count as major.
      if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minorMs += entry.duration;
      else majorMs += entry.duration;
    }
  }).observe({ entryTypes: ['gc'] });
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  setInterval(() => {
    const line = {
      t: Date.now(),
      gcMinorMs: Math.round(minorMs * 10) / 10,
      gcMajorMs: Math.round(majorMs * 10) / 10,
      collections,
      loopMaxMs: Math.round(loop.max / 1e5) / 10,
      heapMiB: Math.round(process.memoryUsage().heapUsed / 104857.6) / 10,
      handles: process.getActiveResourcesInfo().length,
    };
    writeSync(fd, `${JSON.stringify(line)}\n`);
    minorMs = 0;
    majorMs = 0;
    collections = 0;
    loop.reset();
  }, 1000).unref();
}
