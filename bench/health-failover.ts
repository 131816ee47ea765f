/**
 * Requests lost when one of three instances starts failing under steady load.
 *
 *   npx tsx bench/health-failover.ts [--seconds 10] [--concurrency 32]
 *
 * Three backends, two Waypost proxies on one local redis-server (load spread
 * evenly over both), default passive settings (5 consecutive failures, 30 s
 * ejection, 50 %) and default retries (2). After 3 s one backend starts failing:
 * `500` answers 500 to everything, `refuse` closes its listener and every open
 * connection. Each scenario runs with and without shared ejections, plus one
 * single-proxy baseline, and a paced pair (4 clients with a 20 ms pause, 3 on
 * proxy 1 and 1 on proxy 2: the per-proxy failure count dominates instead of the
 * burst already in flight, and the quieter proxy profits from the busier one).
 *
 * "lost" = responses that were not 2xx (or transport errors), counted before the
 * instance was ejected on every proxy and after. Everything runs in this one
 * process (backends, proxies, load), so read the counts, not the throughput.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { WaypostApp } from '../src/app.js';
import { configSchema } from '../src/config/schema.js';
import { silentLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { RedisServer } from '../test/helpers/redis-server.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '10' }, concurrency: { type: 'string', default: '32' } },
});
const SECONDS = Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
const FAULT_AT_MS = 3000;
const HOST = 'orders.localhost';
const PACE_MS = 20;

interface Backend {
  id: string;
  port: number;
  fail500: boolean;
  refuse(): void;
  close(): Promise<void>;
}

async function backend(id: string): Promise<Backend> {
  const sockets = new Set<Socket>();
  const b = {
    id,
    port: 0,
    fail500: false,
    refuse: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer((_req, res) => {
    res.writeHead(b.fail500 ? 500 : 200, { 'content-type': 'text/plain' });
    res.end(id);
  });
  server.keepAliveTimeout = 65_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  b.port = (server.address() as AddressInfo).port;
  return b;
}

async function proxy(redisUrl: string, prefix: string, share: boolean): Promise<WaypostApp> {
  const config = configSchema.parse({
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0' },
    accessLog: 'off',
    logLevel: 'silent',
    redis: { url: redisUrl, prefix },
    health: { passive: { share } },
  });
  const app = new WaypostApp(Object.freeze(config), { logger: silentLogger, metrics: new Metrics({ processMetrics: false }) });
  await app.start();
  return app;
}

interface Result {
  scenario: string;
  sent: number;
  lostBefore: number;
  lostAfter: number;
  ejectedAfterMs: (number | undefined)[];
  /** Per proxy: ejections it decided itself / applied from a peer. */
  decided: string[];
}

async function run(
  redisUrl: string,
  scenario: string,
  mode: '500' | 'refuse',
  proxies: number,
  share: boolean,
  n: number,
  paced: boolean,
): Promise<Result> {
  // Paced: few clients with a pause, so no burst of in-flight requests hides what sharing saves.
  const clients = paced ? 4 : CONCURRENCY;
  const backends = await Promise.all(['a', 'b', 'bad'].map((id) => backend(`${id}`)));
  const prefix = `bench-failover-${n}`;
  const apps: WaypostApp[] = [];
  for (let i = 0; i < proxies; i++) apps.push(await proxy(redisUrl, prefix, share));
  for (const b of backends) await apps[0]!.store.register({ service: 'orders', id: b.id, host: '127.0.0.1', port: b.port });
  for (const app of apps) while ((app.mirror.service('orders')?.instances.length ?? 0) < 3) await new Promise((r) => setTimeout(r, 5));

  const ports = apps.map((a) => a.addresses.http[0]!.port);
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const started = performance.now();
  let faultAt = Infinity;
  const ejectedAt: (number | undefined)[] = apps.map(() => undefined);
  const watch = setInterval(() => {
    apps.forEach((app, i) => {
      if (ejectedAt[i] === undefined && (app.pool.peek('orders', 'bad')?.ejectedUntil ?? 0) > Date.now()) ejectedAt[i] = performance.now();
    });
  }, 1);
  const fault = setTimeout(() => {
    faultAt = performance.now();
    if (mode === '500') backends[2]!.fail500 = true;
    else backends[2]!.refuse();
  }, FAULT_AT_MS);

  let sent = 0;
  const failures: number[] = [];
  const endAt = started + SECONDS * 1000;
  const loop = async (port: number): Promise<void> => {
    while (performance.now() < endAt) {
      sent++;
      const sentAt = performance.now();
      const status = await new Promise<number>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host: HOST }, agent }, (res) => {
          res.resume();
          res.once('end', () => resolve(res.statusCode ?? 0));
          res.once('error', () => resolve(0));
        });
        req.once('error', () => resolve(0));
      });
      // A failure belongs to the moment its request was sent (picked), not when it came back.
      if (status < 200 || status >= 300) failures.push(sentAt);
      if (paced) await new Promise((r) => setTimeout(r, PACE_MS));
    }
  };
  // Paced load is uneven (3 clients on the first proxy, 1 on the second): the busier proxy ejects first.
  const portFor = (i: number): number => (paced ? ports[i === clients - 1 ? ports.length - 1 : 0]! : ports[i % ports.length]!);
  await Promise.all(Array.from({ length: clients }, (_, i) => loop(portFor(i))));
  clearInterval(watch);
  clearTimeout(fault);
  agent.destroy();

  const allEjected = ejectedAt.every((t) => t !== undefined) ? Math.max(...(ejectedAt as number[])) : Infinity;
  const result: Result = {
    scenario,
    sent,
    lostBefore: failures.filter((t) => t <= allEjected).length,
    lostAfter: failures.filter((t) => t > allEjected).length,
    ejectedAfterMs: ejectedAt.map((t) => (t === undefined ? undefined : Math.round(t - faultAt))),
    decided: await Promise.all(
      apps.map(async (app) => {
        const own = (await app.metrics.ejections.get()).values.reduce((sum, v) => sum + v.value, 0);
        return `${own}/${app.sharedEjections?.applied ?? 0}`;
      }),
    ),
  };
  for (const app of apps) await app.stop();
  await Promise.all(backends.map((b) => b.close()));
  return result;
}

async function main(): Promise<void> {
  const redis = await RedisServer.start();
  const results: Result[] = [];
  try {
    const scenarios: [string, '500' | 'refuse', number, boolean, boolean][] = [
      ['1 proxy, answers 500', '500', 1, false, false],
      ['2 proxies, answers 500, not shared', '500', 2, false, false],
      ['2 proxies, answers 500, shared', '500', 2, true, false],
      ['2 proxies, refuses, not shared', 'refuse', 2, false, false],
      ['2 proxies, refuses, shared', 'refuse', 2, true, false],
      ['paced: 2 proxies, answers 500, not shared', '500', 2, false, true],
      ['paced: 2 proxies, answers 500, shared', '500', 2, true, true],
    ];
    let n = 0;
    for (const [name, mode, proxies, share, paced] of scenarios) {
      const r = await run(redis.url, name, mode, proxies, share, n++, paced);
      results.push(r);
      process.stderr.write(`${name}: done\n`);
    }
  } finally {
    await redis.stop();
  }
  console.log(
    `\n${SECONDS} s, ${CONCURRENCY} keep-alive clients spread over the proxies (paced: 4 clients, ${PACE_MS} ms pause, 3 on proxy 1 and 1 on proxy 2); ` +
      `fault at ${FAULT_AT_MS / 1000} s; consecutiveFailures 5, retries 2\n`,
  );
  console.log('| scenario | requests | lost before ejection | lost after ejection | ejected after fault (ms, per proxy) | ejections own/shared (per proxy) |');
  console.log('| --- | ---: | ---: | ---: | --- | --- |');
  for (const r of results) {
    console.log(`| ${r.scenario} | ${r.sent} | ${r.lostBefore} | ${r.lostAfter} | ${r.ejectedAfterMs.map((t) => (t === undefined ? 'never' : t)).join(' / ')} | ${r.decided.join(' · ')} |`);
  }
}

await main();
