/**
 * What the proxy keeps per service and per upstream address follows the registry:
 * after services and instances leave (and a grace), their metric series, caches,
 * health stats and upstream pools are gone, whatever names came and went before.
 * A whole app in this process (embedded registry), real backends, a short grace.
 */
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { Metrics } from '../../src/metrics.js';
import { MemoryStore } from '../../src/registry/memory-store.js';
import type { InstanceRecord } from '../../src/types.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { startBackend, type Backend } from '../helpers/backends.js';
import { statusOf } from '../helpers/http.js';
import { deadPort } from '../helpers/ports.js';
import { ENGINES } from './proxy-harness.js';
import { switchBackend, type SwitchBackend } from './health-harness.js';

const GRACE_MS = 300;
const CYCLES = 5;
const SERVICES_PER_CYCLE = 2_000;

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function app(overrides: Parameters<typeof startApp>[0] = {}, clock?: ManualClock, graceMs = GRACE_MS): Promise<TestApp> {
  const started = await startApp(overrides, {
    deps: {
      metrics: new Metrics({ processMetrics: false }),
      // The embedded registry keeps a bounded change log (100,000 events by default) for
      // subscribers that fall behind; kept short here so the heap check measures the proxy.
      store: new MemoryStore({ feedLength: 1_000 }),
      departureGraceMs: graceMs,
      ...(clock ? { clock } : {}),
    },
  });
  closers.push(() => started.stop());
  return started;
}

async function backend(): Promise<Backend> {
  const started = await startBackend();
  closers.push(() => started.close());
  return started;
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function scrape(proxy: TestApp): Promise<string> {
  return (await fetch(`${proxy.adminUrl}/metrics`)).text();
}

/** Registers one instance per name (in parallel batches) and waits until the mirror routes on all. */
async function registerAll(proxy: TestApp, names: readonly string[], port: number): Promise<InstanceRecord[]> {
  const records: InstanceRecord[] = [];
  for (let i = 0; i < names.length; i += 250) {
    // The longest lease: on a loaded machine a flood with traffic can outlast the default 30 s.
    const batch = names.slice(i, i + 250).map((service) => proxy.app.store.register({ service, host: '127.0.0.1', port, ttl: 3600 }));
    for (const { record } of await Promise.all(batch)) records.push(record);
  }
  const last = names.at(-1)!;
  await until(() => (proxy.app.mirror.service(last)?.instances.length ?? 0) > 0, `${last} is routed`);
  return records;
}

async function deregisterAll(proxy: TestApp, records: readonly InstanceRecord[]): Promise<void> {
  for (let i = 0; i < records.length; i += 250) {
    await Promise.all(records.slice(i, i + 250).map((r) => proxy.app.store.deregister(r.service, r.id)));
  }
  const last = records.at(-1)!.service;
  await until(() => (proxy.app.mirror.service(last)?.instances.length ?? 0) === 0, `${last} has left the mirror`);
}

/** Waits for the grace to pass and the series removal to land. */
async function departed(proxy: TestApp, name: string): Promise<void> {
  await until(async () => !(await scrape(proxy)).includes(`"${name}"`), `${name} is gone from /metrics`);
}

describe('metric series follow the registry', () => {
  it('returns /metrics to within 10 % of its size after five cycles of 2,000 fresh service names', async () => {
    const ok = await backend();
    const dead = await deadPort();
    const proxy = await app({ retries: 1 });
    await proxy.register({ service: 'stable', host: '127.0.0.1', port: ok.port });
    expect(await statusOf(proxy.port, 'stable.localhost')).toBe(200);
    const before = (await scrape(proxy)).length;

    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const names = Array.from({ length: SERVICES_PER_CYCLE }, (_, i) => `c${cycle}-s${i}`);
      // The last name points at a dead port: its 502 adds upstream-error and retry series.
      const records = await registerAll(proxy, names.slice(0, -1), ok.port);
      records.push(...(await registerAll(proxy, names.slice(-1), dead)));
      for (const name of names.slice(-4, -1)) expect(await statusOf(proxy.port, `${name}.localhost`)).toBe(200);
      expect(await statusOf(proxy.port, `${names.at(-1)}.localhost`)).toBe(502);

      await deregisterAll(proxy, records);
      // Within the grace a scrape still sees the last values of a service that just left.
      const lastScrape = await scrape(proxy);
      expect(lastScrape).toContain(`waypost_requests_total{service="${names.at(-2)}",code="200"} 1`);
      expect(lastScrape).toContain(`waypost_upstream_errors_total{service="${names.at(-1)}",reason="connect_refused"}`);
      expect(lastScrape).toContain(`waypost_endpoints{service="${names.at(-2)}",state="healthy"} 0`);
      await departed(proxy, names.at(-1)!);
    }

    const after = await scrape(proxy);
    if (process.env.CHURN_REPORT) console.log('/metrics bytes before the first cycle and after the last', before, after.length);
    expect(after).not.toMatch(/service="c\d+-s\d+"/);
    expect(after).toContain('waypost_requests_total{service="stable",code="200"} 1');
    expect(after.length, `/metrics ${before} bytes before, ${after.length} after`).toBeLessThanOrEqual(before * 1.1);
    expect(proxy.app.pool.serviceCount).toBe(1); // stable's
  }, 120_000);

  it('gives a service that returns after its series were removed fresh, working series', async () => {
    const ok = await backend();
    const proxy = await app();
    await proxy.register({ service: 'orders', id: 'a', host: '127.0.0.1', port: ok.port });
    expect(await statusOf(proxy.port, 'orders.localhost')).toBe(200);
    await proxy.app.store.deregister('orders', 'a');
    await departed(proxy, 'orders');

    await proxy.register({ service: 'orders', id: 'a', host: '127.0.0.1', port: ok.port });
    expect(await statusOf(proxy.port, 'orders.localhost')).toBe(200);
    expect(await statusOf(proxy.port, 'orders.localhost')).toBe(200);
    const text = await scrape(proxy);
    expect(text).toContain('waypost_requests_total{service="orders",code="200"} 2');
    expect(text).toContain('waypost_request_duration_seconds_count{service="orders"} 2');
  });

  it('removes the series again when a client keeps asking for a departed name', async () => {
    const ok = await backend();
    const proxy = await app();
    await proxy.register({ service: 'orders', id: 'a', host: '127.0.0.1', port: ok.port });
    await proxy.app.store.deregister('orders', 'a');
    await departed(proxy, 'orders');
    // The mirror still knows the emptied service, so this is a 503 counted under its name.
    expect(await statusOf(proxy.port, 'orders.localhost')).toBe(503);
    expect(await scrape(proxy)).toContain('waypost_requests_total{service="orders",code="503"} 1');
    await departed(proxy, 'orders');
  });

  it('keeps a service that returns within the grace, with its counts', async () => {
    const ok = await backend();
    const proxy = await app();
    await proxy.register({ service: 'orders', id: 'a', host: '127.0.0.1', port: ok.port });
    expect(await statusOf(proxy.port, 'orders.localhost')).toBe(200);
    await proxy.app.store.deregister('orders', 'a');
    await proxy.register({ service: 'orders', id: 'b', host: '127.0.0.1', port: ok.port });
    await new Promise((r) => setTimeout(r, GRACE_MS * 2));
    expect(await statusOf(proxy.port, 'orders.localhost')).toBe(200);
    expect(await scrape(proxy)).toContain('waypost_requests_total{service="orders",code="200"} 2');
  });

  it('returns the heap to within 20 % after a registration flood with traffic to every service and full deregistration', async () => {
    const gc = (globalThis as { gc?: () => void }).gc!;
    const ok = await backend();
    // A longer grace: the stray check (one pass over all series per grace) stays out of the flood's way.
    const proxy = await app({}, undefined, 2_000);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    closers.push(async () => agent.destroy());
    const hit = (service: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port: proxy.port, path: '/', headers: { host: `${service}.localhost` }, agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
      });
    const flood = async (prefix: string, count: number): Promise<void> => {
      const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
      const records = await registerAll(proxy, names, ok.port);
      for (let i = 0; i < names.length; i += 16) {
        const statuses = await Promise.all(names.slice(i, i + 16).map(hit));
        expect(statuses.filter((s) => s !== 200)).toEqual([]);
      }
      await scrape(proxy);
      await deregisterAll(proxy, records);
      await departed(proxy, names.at(-1)!);
    };
    const heap = (): number => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };

    await flood('warm', 200); // JIT, pools and lazily built parts settle first
    const start = { heap: heap(), rss: process.memoryUsage().rss };
    await flood('flood', 3_000);
    const end = { heap: heap(), rss: process.memoryUsage().rss };
    if (process.env.CHURN_REPORT) console.log('heap/rss before and after the flood', start, end);
    expect(end.heap, `heap ${start.heap} → ${end.heap} bytes`).toBeLessThanOrEqual(start.heap * 1.2);
  }, 120_000);
});

describe('per-instance state follows the registry', () => {
  for (const engine of ENGINES) {
    it(`${engine}: closes a departed address's upstream pool once its in-flight request has finished`, async () => {
      const clock = new ManualClock(Date.now());
      const [leaving, staying] = [await backend(), await backend()];
      const proxy = await app({ engine }, clock);
      await proxy.register({ service: 'orders', id: 'leaving', host: '127.0.0.1', port: leaving.port });
      await proxy.register({ service: 'users', id: 'staying', host: '127.0.0.1', port: staying.port });
      expect(await statusOf(proxy.port, 'users.localhost')).toBe(200);

      const slow = statusOf(proxy.port, 'orders.localhost', { 'x-test': 'slow=800' });
      await until(() => leaving.requests === 1, 'the slow request reached its instance');
      await proxy.app.store.deregister('orders', 'leaving');
      await until(() => proxy.app.mirror.service('orders')?.instances.length === 0, 'the instance left the mirror');
      clock.advance(GRACE_MS); // the departure is released while the request is still in flight
      expect(proxy.app.pool.peek('orders', 'leaving')?.inflight).toBe(1);

      expect(await slow).toBe(200);
      // Well under the 4 s keep-alive idle timeout that would close it anyway.
      await until(() => leaving.openConnections() === 0, 'the proxy closed its connection to the departed address', 1_500);
      expect(staying.openConnections()).toBe(1);
      expect(proxy.app.upstreamStats()?.sockets).toBe(1);

      // Its stats were kept while it was busy; the periodic sweep drops them now.
      expect(proxy.app.pool.peek('orders', 'leaving')).toBeDefined();
      clock.advance(5_000);
      expect(proxy.app.pool.peek('orders', 'leaving')).toBeUndefined();
    });
  }
});

describe('waypost_panic_mode without traffic', () => {
  it('goes to 1 when active checks fail most instances and back to 0 when they recover', async () => {
    const backends: SwitchBackend[] = [await switchBackend('a'), await switchBackend('b')];
    closers.push(async () => void (await Promise.all(backends.map((b) => b.close()))));
    const proxy = await app({
      health: { active: { orders: { path: '/healthz', interval: '50ms', timeout: '1s', passes: 1, fails: 1 } } },
    });
    for (const b of backends) await proxy.register({ service: 'orders', id: b.id, host: '127.0.0.1', port: b.port });
    const gauge = async (): Promise<string | undefined> => /waypost_panic_mode\{service="orders"\} (\d)/.exec(await scrape(proxy))?.[1];

    for (const b of backends) b.mode = 'fail';
    await until(async () => (await gauge()) === '1', 'panic mode is shown');
    for (const b of backends) b.mode = 'ok';
    await until(async () => (await gauge()) === '0', 'panic mode is released');
    expect(backends.every((b) => b.requests === 0)).toBe(true);
  });
});
