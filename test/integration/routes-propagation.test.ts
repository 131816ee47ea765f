/**
 * Two proxies on one real Redis (issue 19): a route PUT on proxy A's admin API serves
 * requests on proxy B. Measures change → routed on B over 50 changes and prints p50/p99;
 * the assertion is generous (a loaded CI machine), the printed numbers are the measurement.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type Backend, type EchoReply } from '../helpers/backends.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { RedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { call } from './admin-harness.js';
import { json, request } from './proxy-harness.js';

const CHANGES = 50;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Prints p50/p99/max of a run and returns the p99. */
function report(what: string, samples: number[]): number {
  const sorted = [...samples].sort((x, y) => x - y);
  const [p50, p99] = [percentile(sorted, 50), percentile(sorted, 99)];
  console.log(`${what} on proxy A -> seen on proxy B over ${samples.length} changes: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms`);
  return p99;
}

describe('route propagation between two proxies on one Redis', () => {
  let redis: RedisServer;
  let a: TestApp;
  let b: TestApp;
  let blue: Backend;
  let green: Backend;

  beforeAll(async () => {
    redis = await RedisServer.start();
    blue = await startBackend({ name: 'blue' });
    green = await startBackend({ name: 'green' });
    const config = { redis: { url: redis.url, prefix: 'routes-prop' }, domains: [] };
    a = await startApp(config);
    b = await startApp(config);
    await a.register({ service: 'blue', id: 'blue-1', host: '127.0.0.1', port: blue.port });
    await a.register({ service: 'green', id: 'green-1', host: '127.0.0.1', port: green.port });
    await waitFor('proxy B to know both services', () => b.app.mirror.service('blue') !== undefined && b.app.mirror.service('green') !== undefined);
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await blue?.close();
    await green?.close();
    await redis?.stop();
  });

  it(`routes on proxy B what was PUT on proxy A, p99 over ${CHANGES} changes well under a second`, async () => {
    const samples: number[] = [];
    const routedTo = (path: string): string | undefined => b.app.router.match('app.test', path, () => undefined)?.service;
    for (let i = 0; i < CHANGES; i++) {
      const service = i % 2 === 0 ? 'blue' : 'green';
      const started = performance.now();
      const put = call(a.app.addresses.admin.port, 'PUT', '/v1/routes/flip', { json: { host: 'app.test', path: '/flip', service } });
      // Checked right after each route change B's mirror applies (its router rebuilds in a microtask
      // queued just before this check), not by busy polling, which would steal the CPU Redis needs.
      await new Promise<void>((resolve) => {
        const check = (): void => {
          if (routedTo('/flip') !== service) return;
          off();
          clearInterval(fallback);
          resolve();
        };
        const off = b.app.mirror.onRoutesChange(() => queueMicrotask(check));
        const fallback = setInterval(check, 5);
        check();
      });
      samples.push(performance.now() - started);
      expect((await put).status).toBe(i === 0 ? 201 : 200);
      // And real traffic through B's listener goes there.
      expect(json<EchoReply>(await request(b.port, { host: 'app.test', path: '/flip' })).backend).toBe(service);
    }
    const p99 = report('route change', samples);
    // The target is < 50 ms p99 (issue 19); a loaded 2-core CI machine gets room, the test bound is 1 s.
    expect(p99).toBeLessThan(1000);
  });

  it(`measures an instance change the same way, for comparison (${CHANGES} status changes)`, async () => {
    const samples: number[] = [];
    const statusOnB = (): string | undefined => b.app.mirror.service('green')?.instances[0]?.status;
    for (let i = 0; i < CHANGES; i++) {
      const status = i % 2 === 0 ? 'DRAINING' : 'UP';
      const started = performance.now();
      const put = call(a.app.addresses.admin.port, 'PUT', '/v1/services/green/instances/green-1/status', { json: { status } });
      await new Promise<void>((resolve) => {
        const check = (): void => {
          if (statusOnB() !== status) return;
          off();
          clearInterval(fallback);
          resolve();
        };
        const off = b.app.mirror.onChange(() => check());
        const fallback = setInterval(check, 5);
        check();
      });
      samples.push(performance.now() - started);
      expect((await put).status).toBe(200);
    }
    expect(report('instance change', samples)).toBeLessThan(1000);
  });

  it('drops a route on proxy B when it is deleted on proxy A', async () => {
    await call(a.app.addresses.admin.port, 'PUT', '/v1/routes/gone', { json: { host: 'app.test', path: '/gone', service: 'blue' } });
    await waitFor('B to route /gone', async () => (await request(b.port, { host: 'app.test', path: '/gone' })).status === 200 || undefined);
    expect((await call(a.app.addresses.admin.port, 'DELETE', '/v1/routes/gone')).status).toBe(204);
    await waitFor('B to stop routing /gone', async () => (await request(b.port, { host: 'app.test', path: '/gone' })).status === 404 || undefined);
    expect(b.app.router.list().routes.map((r) => r.id)).not.toContain('gone');
  });
});
