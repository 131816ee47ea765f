/**
 * Registry write throughput: register and heartbeat ops/s with concurrent callers,
 * memory store vs a real local redis-server.
 *
 *   npx tsx bench/registry-throughput.ts [--seconds 5] [--concurrency 64]
 */
import { MemoryStore } from '../src/registry/memory-store.js';
import { RedisStore } from '../src/registry/redis-store.js';
import type { RegistryStore } from '../src/registry/store.js';
import { RedisServer } from '../test/helpers/redis-server.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const SECONDS = arg('seconds', 5);
const CONCURRENCY = arg('concurrency', 64);
const IDS_PER_CALLER = 100;

interface Row {
  store: string;
  operation: string;
  ops: number;
  opsPerSecond: number;
  p50ms: number;
  p99ms: number;
}

/** Each caller loops over its own ids until the time is up. */
async function measure(store: string, operation: string, op: (caller: number, n: number) => Promise<unknown>): Promise<Row> {
  const latencies: number[] = [];
  const until = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, caller) => {
      for (let n = 0; performance.now() < until; n += 1) {
        const t = performance.now();
        await op(caller, n);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => Number((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0).toFixed(3));
  return { store, operation, ops: latencies.length, opsPerSecond: Math.round(latencies.length / elapsed), p50ms: at(0.5), p99ms: at(0.99) };
}

async function run(name: string, store: RegistryStore): Promise<Row[]> {
  await store.start();
  const service = (caller: number): string => `bench-${caller % 8}`;
  const id = (caller: number, n: number): string => `c${caller}-${n % IDS_PER_CALLER}`;
  const rows = [
    await measure(name, 'register', (caller, n) =>
      store.register({ service: service(caller), id: id(caller, n), host: '10.0.0.1', port: 1 + (n % 60_000), ttl: 60 }),
    ),
    await measure(name, 'heartbeat', (caller, n) => store.renew(service(caller), id(caller, n))),
  ];
  await store.close();
  return rows;
}

const server = await RedisServer.start();
try {
  const rows = [
    ...(await run('memory', new MemoryStore())),
    ...(await run(
      'redis',
      new RedisStore({
        redis: { url: server.url, sentinels: [], name: '', cluster: [], password: '', prefix: 'bench', feedLength: 100_000 },
      }),
    )),
  ];
  console.log(`registry throughput: ${CONCURRENCY} concurrent callers, ${SECONDS} s per row, node ${process.version}`);
  console.table(rows);
} finally {
  await server.stop();
}
