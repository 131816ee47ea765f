/**
 * An open-loop, paced load generator: request k is due at start + k / rate, whatever happened
 * to the earlier ones, and its latency is measured from that due time (so a stall shows up in
 * the latency of every request it delayed: no coordinated omission). wrk and autocannon are
 * closed-loop and report latency at saturation; autocannon's own rate limit sends each
 * second's quota as a burst. This is what "p99 at equal load" needs.
 *
 * Runs in the bench process (pinned to the load CPU) on an undici Pool with `connections`
 * keep-alive connections; requests wait in the pool when all are busy, which counts as latency.
 */
import { Pool } from 'undici';
import type { LoadRequest, LoadResult } from './load-types.js';

/** How often the pacer wakes to send what is due. */
const TICK_MS = 1;

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/**
 * Unrecorded pacing before the measurement: the generator's own JIT warm-up and its first
 * connections otherwise put ~250 ms of latency into the first second of every run.
 */
const WARMUP_SECONDS = 1.5;

export async function runPaced(request: LoadRequest & { rate: number }): Promise<LoadResult> {
  const url = new URL(request.url);
  const pool = new Pool(url.origin, { connections: request.connections, pipelining: 1 });
  try {
    await pace(pool, url, request, WARMUP_SECONDS);
    return await pace(pool, url, request, request.durationSeconds);
  } finally {
    await pool.destroy();
  }
}

async function pace(pool: Pool, url: URL, request: LoadRequest & { rate: number }, seconds: number): Promise<LoadResult> {
  const headers = request.hostHeader ? { host: request.hostHeader } : {};
  const total = Math.max(1, Math.round(request.rate * seconds));
  const latencies = new Float64Array(total);
  let done = 0;
  let errors = 0;
  let non2xx = 0;
  let sent = 0;
  const path = url.pathname + url.search;
  const start = performance.now();
  const interval = 1000 / request.rate;

  const fire = (due: number): void => {
    pool.request({ path, method: 'GET', headers }).then(
      async ({ statusCode, body }) => {
        await body.dump();
        if (statusCode < 200 || statusCode >= 300) non2xx++;
        latencies[done++] = performance.now() - due;
      },
      () => {
        errors++;
        latencies[done++] = performance.now() - due;
      },
    );
  };

  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (sent < total && start + sent * interval <= now) {
        fire(start + sent * interval);
        sent++;
      }
      if (sent < total) setTimeout(tick, TICK_MS);
      else resolve();
    };
    tick();
  });
  // Answers still in flight: wait for them, bounded.
  const deadline = performance.now() + 30_000;
  while (done < total && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  const elapsedS = (performance.now() - start) / 1000;
  const measured = latencies.subarray(0, done).sort();
  return {
    requestsPerSecond: done / elapsedS,
    p50Ms: percentile(measured, 0.5),
    p99Ms: percentile(measured, 0.99),
    requests: done,
    errors: errors + (total - done),
    non2xx,
  };
}
