/**
 * Micro benchmark of the per-request features (issue 21 item 3): one access-log line, the
 * metrics one request records, and a request id. Targets: access log ≤ 3 µs, metrics ≤ 0.5 µs.
 * Run: `npx tsx bench/micro/hot-path.bench.ts`. Prints µs/op (median of 5 batches).
 */
import type { IncomingMessage } from 'node:http';
import { AccessLog, type AccessLogEntry } from '../../src/access-log.js';
import { Metrics } from '../../src/metrics.js';
import { generatedRequestId, nextRequestSequence, requestIdOf } from '../../src/request-id.js';
import { ServiceMetricsCache } from '../../src/proxy/service-metrics.js';

function time(name: string, iterations: number, op: (i: number) => void): void {
  const batches: number[] = [];
  for (let b = 0; b < 6; b++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) op(i);
    const ns = Number(process.hrtime.bigint() - start) / iterations;
    if (b > 0) batches.push(ns); // the first batch warms the JIT
  }
  batches.sort((a, b) => a - b);
  console.log(`${name.padEnd(44)} ${(batches[2]! / 1000).toFixed(3)} µs/op  (batches ${batches.map((n) => (n / 1000).toFixed(2)).join(' ')})`);
}

const log = new AccessLog('/dev/null');
const entry: AccessLogEntry = {
  requestId: '3f2a9c81d0e4-1a2b',
  requestSequence: 0,
  method: 'GET',
  host: 'orders.localhost',
  path: '/api/orders/123',
  service: 'orders',
  routeId: 'route[0]',
  instance: 'orders/orders-7f9c',
  status: 200,
  bytesIn: undefined,
  bytesOut: 312,
  durationMs: 1.234567,
  upstreamMs: 0.876543,
  retries: 0,
  error: undefined,
  protocol: 'HTTP/1.1',
  grpcStatus: undefined,
  traceId: undefined,
};
time('access log: one line', 200_000, (i) => {
  entry.durationMs = 1 + (i % 1000) / 997;
  log.write(entry);
});
time('access log: one line, an id the proxy made', 200_000, (i) => {
  entry.requestSequence = nextRequestSequence();
  entry.requestId = generatedRequestId(entry.requestSequence);
  entry.durationMs = 1 + (i % 1000) / 997;
  log.write(entry);
});

const metrics = new Metrics({ processMetrics: false });
const services = new ServiceMetricsCache(metrics);
time('metrics: request count + duration', 500_000, (i) => {
  const m = services.of('orders');
  m.request(200).inc();
  m.duration.observe(0.001 + (i % 100) / 100_000);
});

const req = { headers: {} } as IncomingMessage;
time('request id (generated)', 1_000_000, () => {
  requestIdOf(req);
});
await log.close();
