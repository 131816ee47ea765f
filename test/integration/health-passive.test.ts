/**
 * Passive health, panic mode, slow start and active checks end to end: a whole
 * WaypostApp in this process on the memory store, real backends, requests
 * through the real proxy, counted per instance.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import {
  closeAgent,
  healthByInstance,
  hitMany,
  startHealthApp,
  switchBackend,
  type HealthApp,
  type SwitchBackend,
} from './health-harness.js';
import { waitFor } from '../helpers/wait.js';

const HOST = 'orders.localhost';
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});
afterAll(() => closeAgent());

async function backends(n: number): Promise<SwitchBackend[]> {
  const list = await Promise.all(Array.from({ length: n }, (_, i) => switchBackend(`orders-${i}`)));
  cleanup.push(async () => void (await Promise.all(list.map((b) => b.close()))));
  return list;
}

async function app(config: Parameters<typeof startHealthApp>[0], list: SwitchBackend[], clock?: ManualClock): Promise<HealthApp> {
  const started = await startHealthApp({ retries: 0, ...config }, clock);
  cleanup.push(() => started.stop());
  for (const b of list) await started.register('orders', b);
  return started;
}

const passive = (fields: Record<string, unknown>) => ({
  health: { passive: { consecutiveFailures: 3, baseEjection: '10s', maxEjection: '40s', maxEjectionPercent: 50, ...fields } },
});

describe('passive outlier detection through the proxy', () => {
  it('ejects a backend answering 500 after 3 failures and gives its share to the others', async () => {
    const [a, b, bad] = await backends(3);
    bad!.mode = 'fail';
    const proxy = await app(passive({}), [a!, b!, bad!]);
    const codes = await hitMany(proxy.port, HOST, 60);
    expect(bad!.requests).toBe(3);
    expect(codes).toEqual({ 200: 57, 500: 3 });
    expect(a!.requests + b!.requests).toBe(57);
    expect(Math.abs(a!.requests - b!.requests)).toBeLessThanOrEqual(1);
    expect(await healthByInstance(proxy.adminUrl, 'orders')).toEqual({ 'orders-0': 'healthy', 'orders-1': 'healthy', 'orders-2': 'ejected' });
    expect(await (await fetch(`${proxy.adminUrl}/metrics`)).text()).toContain('waypost_ejections_total{service="orders"} 1');
  });

  it('grows the ejection with each repeat and lets the instance back in when it ends (injected clock)', async () => {
    const clock = new ManualClock(Date.now());
    const [a, b, bad] = await backends(3);
    bad!.mode = 'fail';
    const proxy = await app(passive({ baseEjection: '10s', maxEjection: '40s' }), [a!, b!, bad!], clock);
    const ejectedFor = () => proxy.app.pool.peek('orders', 'orders-2')!.ejectedUntil - clock.now();

    const lengths: number[] = [];
    for (let round = 0; round < 4; round++) {
      const before = bad!.requests;
      await hitMany(proxy.port, HOST, 30);
      expect(bad!.requests - before).toBe(3);
      lengths.push(ejectedFor());
      clock.advance(ejectedFor() - 1);
      await hitMany(proxy.port, HOST, 6);
      expect(bad!.requests - before).toBe(3);
      clock.advance(1);
    }
    expect(lengths).toEqual([10_000, 20_000, 40_000, 40_000]);

    // Healthy again: it takes its share once the last ejection ended.
    bad!.mode = 'ok';
    const before = bad!.requests;
    await hitMany(proxy.port, HOST, 30);
    expect(bad!.requests - before).toBe(10);
    expect((await healthByInstance(proxy.adminUrl, 'orders'))['orders-2']).toBe('healthy');
  });

  it('honours maxEjectionPercent: 3 instances, 2 failing, 50 % → only 1 ejected', async () => {
    const [good, bad1, bad2] = await backends(3);
    bad1!.mode = 'fail';
    bad2!.mode = 'fail';
    const proxy = await app(passive({ maxEjectionPercent: 50 }), [good!, bad1!, bad2!]);
    await hitMany(proxy.port, HOST, 90);
    const health = Object.values(await healthByInstance(proxy.adminUrl, 'orders'));
    expect(health.filter((h) => h === 'ejected')).toHaveLength(1);
    expect(health.filter((h) => h === 'healthy')).toHaveLength(2);
  });
});

describe('panic mode', () => {
  it('engages when fewer than half the instances are eligible, balances over all of them, and shows in /metrics', async () => {
    const [good, bad1, bad2] = await backends(3);
    bad1!.mode = 'fail';
    bad2!.mode = 'fail';
    const proxy = await app({ ...passive({ maxEjectionPercent: 100 }), panicThreshold: 0.5 }, [good!, bad1!, bad2!]);
    await hitMany(proxy.port, HOST, 30);
    expect(Object.values(await healthByInstance(proxy.adminUrl, 'orders')).sort()).toEqual(['ejected', 'ejected', 'healthy']);
    const before = [good!.requests, bad1!.requests, bad2!.requests];
    await hitMany(proxy.port, HOST, 30);
    // All three get traffic again (ejected ones included) instead of one instance taking everything.
    expect([good!.requests - before[0]!, bad1!.requests - before[1]!, bad2!.requests - before[2]!]).toEqual([10, 10, 10]);
    expect(await (await fetch(`${proxy.adminUrl}/metrics`)).text()).toContain('waypost_panic_mode{service="orders"} 1');
  });

  it('answers 503 instead when panicThreshold is 0', async () => {
    const [bad] = await backends(1);
    bad!.mode = 'fail';
    const proxy = await app({ ...passive({ maxEjectionPercent: 100 }), panicThreshold: 0 }, [bad!]);
    const codes = await hitMany(proxy.port, HOST, 6);
    expect(codes).toEqual({ 500: 3, 503: 3 });
  });
});

describe('slow start', () => {
  it('raises a new instance’s share of traffic over slowStart (injected clock)', async () => {
    const clock = new ManualClock(Date.now());
    const [a, b, fresh] = await backends(3);
    const proxy = await app({ slowStart: '10s' }, [a!, b!], clock);
    await hitMany(proxy.port, HOST, 2); // the first set is built with a and b at full weight
    await proxy.register('orders', fresh!);
    const shareOfFresh = async (): Promise<number> => {
      const before = fresh!.requests;
      await hitMany(proxy.port, HOST, 100);
      return (fresh!.requests - before) / 100;
    };
    const shares = [await shareOfFresh()];
    clock.advance(5_000);
    shares.push(await shareOfFresh());
    clock.advance(5_000);
    shares.push(await shareOfFresh());
    // 10 % of its weight at first (≈ 5 % of traffic), half at 5 s (20 %), full at 10 s (a third).
    expect(shares[0]).toBeGreaterThanOrEqual(0.03);
    expect(shares[0]).toBeLessThanOrEqual(0.07);
    expect(shares[1]).toBeGreaterThanOrEqual(0.18);
    expect(shares[1]).toBeLessThanOrEqual(0.22);
    expect(shares[2]).toBeGreaterThanOrEqual(0.32);
    expect(shares[2]).toBeLessThanOrEqual(0.35);
  });
});

describe('active checks in the app', () => {
  it('takes an instance whose health endpoint fails out of traffic and shows it unhealthy', async () => {
    const [a, b] = await backends(2);
    const proxy = await app(
      { health: { active: { orders: { path: '/healthz', interval: '50ms', timeout: '1s', passes: 1, fails: 2 } } } },
      [a!, b!],
    );
    b!.mode = 'fail';
    await waitFor('orders-1 actively unhealthy', () => proxy.app.pool.peek('orders', 'orders-1')?.activeHealthy === false, { timeoutMs: 3000 });
    const before = b!.requests;
    const codes = await hitMany(proxy.port, HOST, 20);
    expect(codes).toEqual({ 200: 20 });
    expect(b!.requests).toBe(before);
    expect((await healthByInstance(proxy.adminUrl, 'orders'))['orders-1']).toBe('unhealthy');
    b!.mode = 'ok';
    await waitFor('orders-1 actively healthy again', () => proxy.app.pool.peek('orders', 'orders-1')?.activeHealthy === true, { timeoutMs: 3000 });
    await hitMany(proxy.port, HOST, 20);
    expect(b!.requests).toBeGreaterThan(before);
  });
});
