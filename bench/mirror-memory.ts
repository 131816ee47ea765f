/**
 * Memory of a RegistryMirror holding 10,000 services × 10 instances, loaded from
 * a real redis-server the way a proxy starts (one full state() load).
 *
 *   npx tsx bench/mirror-memory.ts [--services 10000] [--per-service 10]
 *
 * The registry is filled from this process; a child process started with
 * --expose-gc loads the mirror and reports heap and RSS growth after a full GC,
 * so the figures hold only the mirror (plus the idle Redis client).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../src/log.js';
import { RegistryMirror } from '../src/mirror/mirror.js';
import { RedisStore } from '../src/registry/redis-store.js';
import { RedisServer } from '../test/helpers/redis-server.js';

const PREFIX = 'bench-memory';
const MiB = 1024 * 1024;

function openStore(url: string): RedisStore {
  return new RedisStore({
    redis: { url, sentinels: [], name: '', cluster: [], password: '', prefix: PREFIX, feedLength: 1000 },
    // Leases long enough that nothing expires during the run.
    defaultTtlSeconds: 3600,
    logger: silentLogger,
  });
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

async function child(url: string): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc!;
  const store = openStore(url);
  await store.start();
  gc();
  const before = process.memoryUsage();
  const started = performance.now();
  const mirror = new RegistryMirror({ store, logger: silentLogger });
  await mirror.start();
  const loadMs = performance.now() - started;
  gc();
  gc();
  const after = process.memoryUsage();
  // A bare state() afterwards: how much of the load is Redis and decoding, not the mirror.
  const stateStarted = performance.now();
  await store.state();
  const stateMs = performance.now() - stateStarted;
  let services = 0;
  let instances = 0;
  for (const s of mirror.services()) {
    services += 1;
    instances += s.instances.length;
  }
  process.send!({ services, instances, loadMs, stateMs, heap: after.heapUsed - before.heapUsed, rss: after.rss - before.rss, rssTotal: after.rss });
  mirror.close();
  await store.close();
}

async function main(): Promise<void> {
  const serviceCount = arg('--services', 10_000);
  const perService = arg('--per-service', 10);
  const server = await RedisServer.start();
  const writer = openStore(server.url);
  await writer.start();
  try {
    const fillStarted = performance.now();
    const total = serviceCount * perService;
    const concurrency = 256;
    let nextIndex = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let i = nextIndex++; i < total; i = nextIndex++) {
          const service = `service-${Math.floor(i / perService)}`;
          await writer.register({
            service,
            id: `${service}-${i % perService}`,
            host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
            port: 8080,
            zone: 'eu-1a',
            tags: ['v2'],
            metadata: { version: '2.3.1' },
          });
        }
      }),
    );
    const fillSeconds = (performance.now() - fillStarted) / 1000;
    const proc = fork(fileURLToPath(import.meta.url), ['--child', server.url], { execArgv: ['--import', 'tsx', '--expose-gc'] });
    const result = await new Promise<{ services: number; instances: number; loadMs: number; stateMs: number; heap: number; rss: number; rssTotal: number }>(
      (resolve) => proc.once('message', resolve as (m: unknown) => void),
    );
    await new Promise((resolve) => proc.once('exit', resolve));
    console.log(`mirror memory: ${result.services} services, ${result.instances} instances (filled in ${fillSeconds.toFixed(1)} s, ${Math.round(total / fillSeconds)} registrations/s at concurrency ${concurrency})`);
    console.log(`full load (state() + build): ${result.loadMs.toFixed(0)} ms; a bare store.state() alone: ${result.stateMs.toFixed(0)} ms`);
    console.log(`heap growth: ${(result.heap / MiB).toFixed(1)} MiB (${Math.round(result.heap / result.instances)} B per instance)`);
    console.log(`RSS growth:  ${(result.rss / MiB).toFixed(1)} MiB (process RSS ${(result.rssTotal / MiB).toFixed(0)} MiB)`);
  } finally {
    await writer.close();
    await server.stop();
  }
}

if (process.argv[2] === '--child') await child(process.argv[3]!);
else await main();
