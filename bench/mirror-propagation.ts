/**
 * Mirror propagation latency: a registry write in this process → the change
 * applied in a RegistryMirror in a SECOND process, over one local redis-server.
 *
 *   npx tsx bench/mirror-propagation.ts [--writes 2000]
 *
 * The child measures `Date.now() - event.at` right after the mirror applied the
 * batch holding the event (`at` is the Redis server's TIME; same host, same
 * clock; both are whole milliseconds, so p50 = 0 means under 1 ms). Two phases: paced writes (one every 2 ms: latency without queueing)
 * and a sequential burst (each write awaits the previous one).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../src/log.js';
import { RegistryMirror } from '../src/mirror/mirror.js';
import { RedisStore } from '../src/registry/redis-store.js';
import type { FeedHandlers, RegistryStore } from '../src/registry/store.js';
import { RedisServer } from '../test/helpers/redis-server.js';

const PREFIX = 'bench-propagation';

function openStore(url: string): RedisStore {
  return new RedisStore({
    redis: { url, sentinels: [], name: '', cluster: [], password: '', prefix: PREFIX, feedLength: 100_000 },
    logger: silentLogger,
  });
}

/** Child: a mirror that reports, per applied event, how long after the write it was applied. */
async function child(url: string): Promise<void> {
  const store = openStore(url);
  await store.start();
  let latencies: number[] = [];
  // The real store; each batch is timed right after the mirror's own handler applied it.
  const timed = new Proxy(store, {
    get(target, key) {
      if (key === 'subscribe') {
        return (from: number, handlers: FeedHandlers) =>
          target.subscribe(from, {
            ...handlers,
            onEvents(events) {
              handlers.onEvents(events);
              const now = Date.now();
              for (const event of events) latencies.push(now - event.at);
            },
          });
      }
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  }) as RegistryStore;
  const mirror = new RegistryMirror({ store: timed, logger: silentLogger });
  await mirror.start();
  process.on('message', (message: { type: string; revision?: number }) => {
    if (message.type === 'flush') {
      void mirror.waitForRevision(message.revision!, 10_000).then((reached) => {
        process.send!({ type: 'latencies', reached, latencies });
        latencies = [];
      });
    } else if (message.type === 'stop') {
      mirror.close();
      void store.close().then(() => process.exit(0));
    }
  });
  // Let the feed connection settle before reporting ready.
  await new Promise((resolve) => setTimeout(resolve, 300));
  process.send!({ type: 'ready' });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const writesArg = process.argv.indexOf('--writes');
  const writes = writesArg > 0 ? Number(process.argv[writesArg + 1]) : 2000;
  const server = await RedisServer.start();
  const writer = openStore(server.url);
  await writer.start();
  const proc = fork(fileURLToPath(import.meta.url), ['--child', server.url], { execArgv: ['--import', 'tsx'] });
  const next = <T>(type: string) =>
    new Promise<T>((resolve) => {
      const onMessage = (message: { type: string }) => {
        if (message.type !== type) return;
        proc.off('message', onMessage);
        resolve(message as T);
      };
      proc.on('message', onMessage);
    });
  try {
    await next('ready');
    const results: string[] = [];
    for (const phase of ['paced (1 write / 2 ms)', 'sequential burst'] as const) {
      for (let i = 0; i < writes; i += 1) {
        await writer.register({ service: `svc-${i % 100}`, id: `i${i % 1000}`, host: '10.0.0.1', port: 1000 + (i % 5000), weight: i % 200 });
        if (phase.startsWith('paced')) await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const { revision } = await writer.state();
      const reply = next<{ reached: boolean; latencies: number[] }>('latencies');
      proc.send({ type: 'flush', revision });
      const { reached, latencies } = await reply;
      const sorted = latencies.sort((a, b) => a - b);
      results.push(
        `${phase.padEnd(24)} events=${sorted.length} reached=${reached} mean=${(sorted.reduce((a, b) => a + b, 0) / sorted.length).toFixed(2)} ms p50=${percentile(sorted, 50)} ms p99=${percentile(sorted, 99)} ms max=${sorted[sorted.length - 1]} ms`,
      );
    }
    console.log(`mirror propagation, write → applied in a second process (${writes} writes per phase, one local redis-server)`);
    for (const line of results) console.log(line);
  } finally {
    proc.send({ type: 'stop' });
    await new Promise((resolve) => proc.once('exit', resolve));
    await writer.close();
    await server.stop();
  }
}

if (process.argv[2] === '--child') await child(process.argv[3]!);
else await main();
