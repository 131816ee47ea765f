/**
 * The registry at scale (issue 9): 100,000 leased instances on one redis-server, every
 * instance renewing its lease every 30 s (≈ 3,300 heartbeats/s), and a proxy's mirror
 * following along in a second process. Prints Redis CPU and memory, heartbeat latency, the
 * mirror's memory and whether it still holds every instance at the end.
 *
 *   npx tsx bench/registry-scale.ts [--services 10000] [--per-service 10] [--seconds 30]
 *                                   [--interval 30] [--ttl 90]
 *
 * `--interval` is each instance's heartbeat period: the rate is instances / interval. The
 * lease (`--ttl`) is three periods, as Eureka's 30 s renewals and 90 s leases.
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { silentLogger } from '../src/log.js';
import { RegistryMirror } from '../src/mirror/mirror.js';
import { RedisStore } from '../src/registry/redis-store.js';
import { RedisServer } from '../test/helpers/redis-server.js';

const PREFIX = 'bench-scale';
const MiB = 1024 * 1024;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

function openStore(url: string, ttlSeconds: number): RedisStore {
  return new RedisStore({
    redis: { url, sentinels: [], name: '', cluster: [], password: '', prefix: PREFIX, feedLength: 10_000 },
    defaultTtlSeconds: ttlSeconds,
    logger: silentLogger,
  });
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface MirrorReport {
  instances: number;
  loadMs: number;
  heapMiB: number;
  rssMiB: number;
}

/** Child: one proxy's mirror; reports after the first load and whenever asked. */
async function child(url: string, ttlSeconds: number): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc!;
  const store = openStore(url, ttlSeconds);
  await store.start();
  const started = performance.now();
  const mirror = new RegistryMirror({ store, logger: silentLogger });
  await mirror.start();
  const loadMs = performance.now() - started;
  const report = (): MirrorReport => {
    gc();
    let instances = 0;
    for (const service of mirror.services()) instances += service.instances.length;
    const usage = process.memoryUsage();
    return { instances, loadMs, heapMiB: usage.heapUsed / MiB, rssMiB: usage.rss / MiB };
  };
  process.send!(report());
  process.on('message', async (message) => {
    if (message === 'report') process.send!(report());
    if (message === 'stop') {
      mirror.close();
      await store.close();
      process.exit(0);
    }
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const serviceCount = arg('--services', 10_000);
  const perService = arg('--per-service', 10);
  const seconds = arg('--seconds', 30);
  const intervalS = arg('--interval', 30);
  const ttlSeconds = arg('--ttl', 90);
  const total = serviceCount * perService;
  const rate = total / intervalS;

  const server = await RedisServer.start();
  const writer = openStore(server.url, ttlSeconds);
  await writer.start();
  const info = new Redis(server.url);
  info.on('error', () => {});
  // Log every command over 1 ms, so the longest one (a mirror's load) can be read back.
  await info.config('SET', 'slowlog-log-slower-than', '1000');
  const ids: { service: string; id: string }[] = [];
  for (let i = 0; i < total; i++) {
    const service = `service-${Math.floor(i / perService)}`;
    ids.push({ service, id: `${service}-${i % perService}` });
  }
  let proc: ReturnType<typeof fork> | undefined;
  try {
    const fillStarted = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 256 }, async () => {
        for (let i = next++; i < total; i = next++) {
          const { service, id } = ids[i]!;
          await writer.register({ service, id, host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 8080, ttl: ttlSeconds, zone: 'eu-1a', tags: ['v2'], metadata: { version: '2.3.1' } });
        }
      }),
    );
    const fillS = (performance.now() - fillStarted) / 1000;
    console.log(`filled ${total} instances (${serviceCount} services × ${perService}) in ${fillS.toFixed(1)} s (${Math.round(total / fillS)}/s)`);

    proc = fork(fileURLToPath(import.meta.url), ['--child', server.url, String(ttlSeconds)], { execArgv: ['--import', 'tsx', '--expose-gc'] });
    const replies: MirrorReport[] = [];
    let waiting: ((report: MirrorReport) => void) | undefined;
    proc.on('message', (message) => {
      replies.push(message as MirrorReport);
      waiting?.(message as MirrorReport);
    });
    const nextReport = (): Promise<MirrorReport> => new Promise((resolve) => (waiting = resolve));
    const loaded = await nextReport();
    console.log(`mirror loaded ${loaded.instances} instances in ${loaded.loadMs.toFixed(0)} ms; heap ${loaded.heapMiB.toFixed(1)} MiB, RSS ${loaded.rssMiB.toFixed(1)} MiB`);

    // Heartbeats, paced: every 10 ms the calls due by then, each instance in turn.
    const latencies: number[] = [];
    let sent = 0;
    let expired = 0;
    let failed = 0;
    let inflight = 0;
    let cursor = 0;
    const redisCpuBefore = cpuSeconds(server.pid!);
    const phaseStarted = performance.now();
    const phaseEnd = phaseStarted + seconds * 1000;
    const pending = new Set<Promise<void>>();
    while (performance.now() < phaseEnd) {
      const due = Math.floor(((performance.now() - phaseStarted) / 1000) * rate);
      while (sent < due && inflight < 1024) {
        const { service, id } = ids[cursor]!;
        cursor = (cursor + 1) % total;
        sent++;
        inflight++;
        const t0 = performance.now();
        const call = writer
          .renew(service, id)
          .then((record) => {
            latencies.push(performance.now() - t0);
            if (record === undefined) expired++;
          })
          .catch(() => {
            failed++;
          })
          .finally(() => {
            inflight--;
            pending.delete(call);
          });
        pending.add(call);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await Promise.all(pending);
    const phaseS = (performance.now() - phaseStarted) / 1000;
    const redisCpu = ((cpuSeconds(server.pid!) - redisCpuBefore) / phaseS) * 100;
    const memory = await info.info('memory');
    // The longest single command Redis ran (the mirror's full load is one Lua script; Redis serves nothing else meanwhile).
    const slowlog = (await info.call('SLOWLOG', 'GET', '128')) as [number, number, number, string[]][];
    let longest: [number, string] = [0, ''];
    for (const entry of slowlog) if (entry[2] > longest[0]) longest = [entry[2], entry[3].slice(0, 4).join(' ').slice(0, 80)];
    const usedMiB = Number(/used_memory:(\d+)/.exec(memory)?.[1] ?? 0) / MiB;
    proc.send('report');
    const end = await nextReport();
    latencies.sort((a, b) => a - b);

    console.log(`heartbeats: ${sent} in ${phaseS.toFixed(1)} s = ${Math.round(sent / phaseS)}/s (target ${Math.round(rate)}/s); expired ${expired}, failed ${failed}`);
    console.log(`heartbeat latency: p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms, max ${percentile(latencies, 100).toFixed(1)} ms`);
    console.log(`redis-server: ${redisCpu.toFixed(1)} % of one core during heartbeats; used_memory ${usedMiB.toFixed(1)} MiB; longest command ${longest[0] === 0 ? '< 1 ms' : `${(longest[0] / 1000).toFixed(1)} ms (${longest[1]})`}`);
    console.log(`mirror at the end: ${end.instances} instances; heap ${end.heapMiB.toFixed(1)} MiB, RSS ${end.rssMiB.toFixed(1)} MiB (target ≤ 150 MiB)`);
    if (end.instances !== total) console.log(`WARNING: the mirror holds ${end.instances} of ${total} instances`);
  } finally {
    proc?.send('stop');
    if (proc) await new Promise((resolve) => proc!.once('exit', resolve));
    info.disconnect();
    await writer.close();
    await server.stop();
  }
}

if (process.argv[2] === '--child') await child(process.argv[3]!, Number(process.argv[4]));
else await main();
