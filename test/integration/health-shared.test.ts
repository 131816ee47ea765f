/**
 * Shared ejections: two (or three) WaypostApps in this process on one real
 * redis-server. An ejection decided by proxy A must be honoured by proxy B
 * within a second, obey B's own maxEjectionPercent, reach a proxy that starts
 * later, and expire by itself.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../helpers/redis-server.js';
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
let redis: RedisServer;
let prefixCounter = 0;
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
});
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});
afterAll(async () => {
  closeAgent();
  await redis?.stop();
});

async function backends(n: number): Promise<SwitchBackend[]> {
  const list = await Promise.all(Array.from({ length: n }, (_, i) => switchBackend(`orders-${i}`)));
  cleanup.push(async () => void (await Promise.all(list.map((b) => b.close()))));
  return list;
}

function proxies(prefix: string) {
  return async (passive: Record<string, unknown> = {}): Promise<HealthApp> => {
    const app = await startHealthApp({
      retries: 0,
      redis: { url: redis.url, prefix },
      health: { passive: { consecutiveFailures: 3, baseEjection: '2s', maxEjection: '10s', maxEjectionPercent: 50, share: true, ...passive } },
    });
    cleanup.push(() => app.stop());
    return app;
  };
}

const isEjected = (proxy: HealthApp, id: string) => (proxy.app.pool.peek('orders', id)?.ejectedUntil ?? 0) > Date.now();

describe('shared ejections over Redis', () => {
  it('an ejection on proxy A is honoured by proxy B within a second, and B sends the instance no traffic', async () => {
    const start = proxies(`shared${++prefixCounter}`);
    const [a, b, bad] = await backends(3);
    const proxyA = await start();
    const proxyB = await start();
    for (const backend of [a!, b!, bad!]) await proxyA.register('orders', backend);
    await proxyB.waitForInstances('orders', 3);
    bad!.mode = 'fail';

    await hitMany(proxyA.port, HOST, 12);
    expect(isEjected(proxyA, 'orders-2')).toBe(true);
    const started = performance.now();
    await waitFor("proxy B to honour A's ejection", () => isEjected(proxyB, 'orders-2'), { timeoutMs: 1000, intervalMs: 5 });
    expect(performance.now() - started).toBeLessThan(1000);

    const before = bad!.requests;
    expect(await hitMany(proxyB.port, HOST, 20)).toEqual({ 200: 20 });
    expect(bad!.requests).toBe(before);
    expect((await healthByInstance(proxyB.adminUrl, 'orders'))['orders-2']).toBe('ejected');
    // A ignores its own message; B counts no ejection of its own.
    expect(proxyA.app.sharedEjections?.applied).toBe(0);
    expect(proxyB.app.sharedEjections?.applied).toBe(1);
    expect(await (await fetch(`${proxyB.adminUrl}/metrics`)).text()).not.toContain('waypost_ejections_total{service="orders"} 1');
    // B's dashboard history says why A ejected it, and that A decided it.
    expect(proxyB.app.healthHistory.of('orders', 'orders-2').at(-1)).toMatchObject({
      health: 'ejected',
      reason: expect.stringMatching(/^\d+ consecutive failures, last: \w+ \(.+\)$/),
    });

    // Expiry travels as a duration: B's copy ends about when A's does.
    const untilA = proxyA.app.pool.peek('orders', 'orders-2')!.ejectedUntil;
    const untilB = proxyB.app.pool.peek('orders', 'orders-2')!.ejectedUntil;
    expect(Math.abs(untilA - untilB)).toBeLessThan(500);
  });

  it('a proxy that starts later picks up ejections still running, and each proxy keeps its own maxEjectionPercent', async () => {
    const start = proxies(`shared${++prefixCounter}`);
    const [a, b, bad] = await backends(3);
    const proxyA = await start();
    for (const backend of [a!, b!, bad!]) await proxyA.register('orders', backend);
    bad!.mode = 'fail';
    await hitMany(proxyA.port, HOST, 12);
    expect(isEjected(proxyA, 'orders-2')).toBe(true);

    const late = await start();
    await late.waitForInstances('orders', 3);
    // SharedEjections starts after the mirror synced, so its catch-up read (the sorted set) finds the instance.
    await waitFor('the late proxy to honour the ejection', () => isEjected(late, 'orders-2'), { timeoutMs: 1000, intervalMs: 5 });

    const strict = await start({ maxEjectionPercent: 0 });
    await strict.waitForInstances('orders', 3);
    await new Promise((r) => setTimeout(r, 100));
    expect(isEjected(strict, 'orders-2')).toBe(false);
  });

  it('keeps deciding on its own when Redis is gone', async () => {
    const own = await RedisServer.start();
    const [a, b, bad] = await backends(3);
    const proxy = await startHealthApp({
      retries: 0,
      redis: { url: own.url, prefix: 'alone' },
      health: { passive: { consecutiveFailures: 3, baseEjection: '2s', maxEjectionPercent: 50, share: true } },
    });
    cleanup.push(async () => {
      await proxy.stop();
      await own.stop();
    });
    for (const backend of [a!, b!, bad!]) await proxy.register('orders', backend);
    await own.kill();
    bad!.mode = 'fail';
    const codes = await hitMany(proxy.port, HOST, 30);
    expect(codes).toEqual({ 200: 27, 500: 3 });
    expect(isEjected(proxy, 'orders-2')).toBe(true);
  });
});
