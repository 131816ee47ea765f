/**
 * rateLimit end to end through the real proxy: a 429 with correct headers on
 * every engine; two proxies (two apps) on one real redis-server sharing one
 * 200/s limit under ~600/s offered load; Redis killed mid-run → each proxy
 * keeps limiting at its share.
 */
import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configRouteStableId } from '../../src/routing/route-stable-id.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { startBackend, type Backend } from '../helpers/backends.js';
import { RedisServer } from '../helpers/redis-server.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { ENGINES, request } from './proxy-harness.js';

const HOST = 'api.localhost';
let backend: Backend;
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  backend = await startBackend({ name: 'api' });
});
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});
afterAll(async () => {
  await backend?.close();
});

async function proxy(rateLimit: { rate: string } & Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<TestApp> {
  const app = await startApp({ routes: [{ host: HOST, service: 'api', rateLimit }], retries: 0, ...extra });
  cleanup.push(() => app.stop());
  return app;
}

describe.each(ENGINES)('rateLimit (%s engine)', (engine) => {
  it('admits the burst with RateLimit fields, then answers 429 rate_limited with Retry-After', async () => {
    const app = await proxy({ rate: '1/m', burst: 2, key: 'client-ip' }, { engine });
    await app.register({ service: 'api', id: 'a', host: '127.0.0.1', port: backend.port });
    const first = await request(app.port, { host: HOST });
    expect(first.status).toBe(200);
    expect(first.headers['ratelimit-policy']).toBe('"default";q=2;w=120');
    expect(first.headers['ratelimit']).toBe('"default";r=1;t=60');
    const second = await request(app.port, { host: HOST });
    expect(second.status).toBe(200);
    expect(second.headers['ratelimit']).toBe('"default";r=0;t=120');
    const refused = await request(app.port, { host: HOST });
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body.toString())).toMatchObject({ error: 'rate_limited' });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(59);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(refused.headers['ratelimit-policy']).toBe('"default";q=2;w=120');
    expect(refused.headers['ratelimit']).toMatch(/^"default";r=0;t=(119|120)$/);
    expect(refused.headers['x-request-id']).toBeTruthy();
    const metrics = await app.app.metrics.registry.metrics();
    expect(metrics).toContain('waypost_rate_limited_total{service="api"} 1');
  });
});

describe('rateLimit key cardinality', () => {
  it('100k distinct keys through the proxy: buckets stay at maxKeys and memory stays bounded', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const heap = (): number => (gc(), gc(), process.memoryUsage().heapUsed);
    // No instance: each admitted request gets a quick 503 after the limit decided, so 100k requests stay cheap.
    const app = await startApp({ routes: [{ host: HOST, service: 'ghost', rateLimit: { rate: '1/s', key: 'header:x-client', maxKeys: 20_000 } }] });
    cleanup.push(() => app.stop());
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    cleanup.push(async () => agent.destroy());
    const send = (i: number) =>
      new Promise<number>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: app.port, path: '/', agent, headers: { host: HOST, 'x-client': `client-${i}` } }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          })
          .on('error', reject);
      });
    const run = async (from: number, count: number): Promise<Record<number, number>> => {
      const codes: Record<number, number> = {};
      let next = from;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (next < from + count) {
            const code = await send(next++);
            codes[code] = (codes[code] ?? 0) + 1;
          }
        }),
      );
      return codes;
    };
    await run(0, 20_000); // fills maxKeys (and warms sockets, JIT)
    const before = heap();
    const codes = await run(20_000, 80_000);
    const after = heap();
    const keys = app.app.rateLimits.keys({ routeId: 'route[0]', stableId: configRouteStableId(app.app.config.routes[0]!), service: 'ghost' });
    console.log(`100k distinct keys via the proxy (maxKeys 20k): ${keys} buckets kept, heap ${((after - before) / 2 ** 20).toFixed(1)} MiB over the last 80k; answers ${JSON.stringify(codes)}`);
    expect(keys).toBe(20_000);
    expect(codes[429]).toBeUndefined(); // every key was new: a full bucket each
    expect(after - before).toBeLessThan(16 * 2 ** 20);
  }, 240_000);
});

describe('shared rateLimit over Redis', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  async function twoProxies(prefix: string): Promise<[TestApp, TestApp]> {
    // A small burst: the measured window sees the sustained rate, not a burst spent late on a slow machine.
    const limit = { rate: '200/s', burst: 50, key: 'route', shared: true };
    const a = await proxy(limit, { redis: { url: redis.url, prefix } });
    const b = await proxy(limit, { redis: { url: redis.url, prefix } });
    await a.register({ service: 'api', id: 'a', host: '127.0.0.1', port: backend.port });
    await waitFor('proxy B sees the instance', () => (b.app.mirror.service('api')?.instances.length === 1 ? true : undefined));
    // A proxy reports (and learns n) only when it served the limit: a request to each until both know they are two.
    await waitFor('both proxies count two live proxies', async () => {
      await Promise.all([request(a.port, { host: HOST }), request(b.port, { host: HOST })]);
      return a.app.rateLimits.sync!.proxies === 2 && b.app.rateLimits.sync!.proxies === 2 ? true : undefined;
    });
    return [a, b];
  }

  it('two proxies sharing 200/s under ~600/s admit 200/s together, each answer with correct headers', async () => {
    const [a, b] = await twoProxies('rl-shared');
    const loads = [pacedLoad(a.port, 300), pacedLoad(b.port, 300)];
    // Steady state: after the first burst is spent.
    await sleep(2_000);
    const from = await admittedSoFar([a, b]);
    await sleep(5_000);
    const to = await admittedSoFar([a, b]);
    const results = await Promise.all(loads.map((load) => load.stop()));
    const seconds = (to.at - from.at) / 1000;
    const rate = (to.total - from.total) / seconds;
    const perProxy = to.each.map((n, i) => ((n - from.each[i]!) / seconds).toFixed(1));
    const offered = results.reduce((sum, r) => sum + r.sent, 0) / (results[0]!.seconds || 1);
    console.log(
      `shared limit 200/s over 2 proxies: offered ${offered.toFixed(0)}/s, admitted ${rate.toFixed(1)}/s ` +
        `(ratio ${(rate / 200).toFixed(3)}; A ${perProxy[0]}/s, B ${perProxy[1]}/s; over ${seconds.toFixed(1)} s)`,
    );
    for (const r of results) expect(r.badHeaders, r.badHeaders.join('\n')).toEqual([]);
    // ~600/s offered; a starved machine sends less, but still well over the limit.
    expect(offered).toBeGreaterThan(250);
    // ±10 % is what the reconciler does on a quiet machine; ±20 % leaves room for a loaded one.
    expect(rate).toBeGreaterThan(200 * 0.8);
    expect(rate).toBeLessThan(200 * 1.2);
  }, 60_000);

  it('a proxy that gets all the traffic gets the whole limit (the idle one takes no share)', async () => {
    const [a, b] = await twoProxies('rl-skew');
    const load = pacedLoad(a.port, 400);
    await sleep(2_500);
    const from = await admittedSoFar([a, b]);
    await sleep(4_000);
    const to = await admittedSoFar([a, b]);
    const result = await load.stop();
    const rate = (to.each[0]! - from.each[0]!) / ((to.at - from.at) / 1000);
    console.log(`all traffic on proxy A: admitted ${rate.toFixed(1)}/s of 200/s (live proxies seen by A: ${a.app.rateLimits.sync!.proxies})`);
    expect(result.badHeaders, result.badHeaders.join('\n')).toEqual([]);
    expect(rate).toBeGreaterThan(200 * 0.8);
    expect(rate).toBeLessThan(200 * 1.2);
  }, 60_000);

  it('with Redis killed mid-run each proxy keeps limiting at its share (100/s of 200/s)', async () => {
    const [a, b] = await twoProxies('rl-fallback');
    const loads = [pacedLoad(a.port, 300), pacedLoad(b.port, 300)];
    await sleep(1_500);
    await redis.kill();
    await sleep(1_000);
    const from = await admittedSoFar([a, b]);
    await sleep(4_000);
    const to = await admittedSoFar([a, b]);
    const results = await Promise.all(loads.map((load) => load.stop()));
    await redis.spawn();
    const seconds = (to.at - from.at) / 1000;
    const rates = to.each.map((n, i) => (n - from.each[i]!) / seconds);
    console.log(`Redis down: proxy A admitted ${rates[0]!.toFixed(1)}/s, B ${rates[1]!.toFixed(1)}/s (each limits at 100/s)`);
    for (const r of results) expect(r.badHeaders, r.badHeaders.join('\n')).toEqual([]);
    for (const rate of rates) {
      expect(rate).toBeGreaterThan(100 * 0.75);
      expect(rate).toBeLessThan(100 * 1.25);
    }
  }, 60_000);
});

/** 200 answers each proxy gave so far (its own counter: counted where the limit decided). */
async function admittedSoFar(apps: TestApp[]): Promise<{ at: number; each: number[]; total: number }> {
  const at = performance.now();
  const each = await Promise.all(
    apps.map(async (app) => {
      const { values } = await app.app.metrics.requests.get();
      return values.filter((v) => v.labels.service === 'api' && String(v.labels.code) === '200').reduce((sum, v) => sum + v.value, 0);
    }),
  );
  return { at, each, total: each.reduce((x, y) => x + y, 0) };
}

interface LoadResult {
  sent: number;
  seconds: number;
  /** Answers missing or with wrong rate-limit fields (first few). */
  badHeaders: string[];
}

/**
 * Open-loop load: `perSecond` requests a second whatever the answers (sends what
 * the clock says is due, so a late timer catches up), over keep-alive sockets.
 */
function pacedLoad(port: number, perSecond: number): { stop(): Promise<LoadResult> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const start = performance.now();
  const sent: number[] = [];
  const badHeaders: string[] = [];
  const inflight = new Set<Promise<void>>();
  const one = (): Promise<void> =>
    new Promise<void>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent, headers: { host: HOST } }, (res) => {
        res.resume();
        res.on('end', resolve);
        const h = res.headers;
        const ok = res.statusCode === 200 || res.statusCode === 429;
        const policyOk = h['ratelimit-policy'] === '"default";q=50;w=1';
        const valueOk = /^"default";r=\d+;t=\d+$/.test(String(h['ratelimit']));
        const retryOk = res.statusCode !== 429 || (/^\d+$/.test(String(h['retry-after'])) && /;r=0;/.test(String(h['ratelimit'])));
        if (!(ok && policyOk && valueOk && retryOk) && badHeaders.length < 5) {
          badHeaders.push(`${res.statusCode} ${JSON.stringify({ p: h['ratelimit-policy'], r: h['ratelimit'], ra: h['retry-after'] })}`);
        }
      });
      req.on('error', () => resolve());
    });
  const timer = setInterval(() => {
    const now = performance.now() - start;
    const due = Math.floor((now / 1000) * perSecond);
    // Never more than a second behind: a stalled machine must not turn into a flood.
    while (sent.length < due && inflight.size < 256) {
      sent.push(now);
      const p = one().finally(() => inflight.delete(p));
      inflight.add(p);
    }
  }, 5);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(inflight);
      agent.destroy();
      return { sent: sent.length, seconds: (performance.now() - start) / 1000, badHeaders };
    },
  };
}
