/**
 * What a config reload must keep or renew around the routes (issue 19's known limits):
 * - rate-limit buckets follow the route (what it matches), not its place in the file, and
 *   shared limits' Redis keys are the same on proxies listing the routes in another order;
 * - a reload that changes the config routes gives the route listing a new revision, so a
 *   blocking lister (`GET /v1/routes?wait=REV`) that asks after the reload still sees it;
 * - forward-auth picks its auth service's instances with the reloaded global balancer.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { configRouteStableId } from '../../src/routing/route-stable-id.js';
import { startApp } from '../helpers/app.js';
import { RedisServer } from '../helpers/redis-server.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { get, reloadFixtures, TOKEN, type ReloadApp } from './reload-harness.js';

const { proxy, backend, defer } = reloadFixtures('reload-route-state');

const backendOf = async (port: number, path: string): Promise<string | number> => {
  const reply = await get(port, 'x.test', path);
  return reply.status === 200 ? (JSON.parse(reply.body) as { backend: string }).backend : reply.status;
};

async function listRoutes(p: ReloadApp, query = ''): Promise<{ revision: number; routes: { id: string; route: { path: string } }[] }> {
  const res = await fetch(`${p.adminUrl}/v1/routes${query}`);
  return (await res.json()) as { revision: number; routes: { id: string; route: { path: string } }[] };
}

/** One request per second at most on the whole route: a spent bucket stays spent for the test. */
const limited = (path: string, service = 'alpha') => ({ path, service, rateLimit: { rate: '1/m', burst: 1, key: 'route' } });

describe('route state across config reloads', () => {
  it('a route keeps its spent rate-limit buckets when a reload inserts a route before it and reorders the rest', async () => {
    const alpha = await backend('alpha');
    const base = { listen: '127.0.0.1:0', domains: [], routes: [limited('/a'), limited('/b')] };
    const p = await proxy(base);
    await p.register('alpha', alpha.port);
    const port = p.app.addresses.http[0]!.port;
    expect(await backendOf(port, '/a')).toBe('alpha');
    expect(await backendOf(port, '/a')).toBe(429);

    p.write({ ...base, routes: [limited('/new'), limited('/b'), limited('/a')] });
    expect((await p.reload()).status).toBe(200);
    // /a is now route[2] and still spent; /new took /a's old place but not its buckets.
    expect(await backendOf(port, '/a')).toBe(429);
    expect(await backendOf(port, '/new')).toBe('alpha');
    expect(await backendOf(port, '/b')).toBe('alpha');
    expect(await backendOf(port, '/b')).toBe(429);
    // A route that now matches other requests (another header condition) is another route: fresh buckets.
    p.write({ ...base, routes: [{ ...limited('/a'), headers: { 'x-tenant': 't1' } }] });
    expect((await p.reload()).status).toBe(200);
    expect((await get(port, 'x.test', '/a', { 'x-tenant': 't1' })).status).toBe(200);
  });

  it('a reload that changes the config routes moves the listing revision; one that does not, does not', async () => {
    const alpha = await backend('alpha');
    const base = { listen: '127.0.0.1:0', domains: [], routes: [{ path: '/a', service: 'alpha' }] };
    const p = await proxy(base);
    await p.register('alpha', alpha.port);
    const before = (await listRoutes(p)).revision;

    p.write({ ...base, retries: 1 });
    expect((await p.reload()).status).toBe(200);
    expect((await listRoutes(p)).revision).toBe(before);

    p.write({ ...base, routes: [{ path: '/a', service: 'alpha' }, { path: '/b', service: 'alpha' }] });
    expect((await p.reload()).status).toBe(200);
    const after = await listRoutes(p);
    expect(after.revision).toBeGreaterThan(before);
    expect(after.routes.map((r) => r.route.path)).toEqual(['/a', '/b']);

    // A lister that saw `before` and asks only now (after the reload) is answered at once.
    const late = await Promise.race([listRoutes(p, `?wait=${before}&timeout=60s`), sleep(10_000).then(() => 'still waiting' as const)]);
    expect(late).not.toBe('still waiting');
    expect(late).toMatchObject({ revision: after.revision });

    // One that waits on the new revision is answered by the next registry route change, with a higher one.
    const waiting = listRoutes(p, `?wait=${after.revision}&timeout=60s`);
    const put = await fetch(`${p.adminUrl}/v1/routes/from-api`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ path: '/from-api', service: 'alpha' }),
    });
    expect(put.status).toBe(201);
    const next = await waiting;
    expect(next.revision).toBeGreaterThan(after.revision);
    expect(next.routes.map((r) => r.id)).toContain('from-api');
  });

  it('forward-auth picks the auth service instances with the reloaded global balancer', async () => {
    const alpha = await backend('alpha');
    const auths = [await backend('auth-1'), await backend('auth-2')];
    const base = { listen: '127.0.0.1:0', domains: [], balancer: 'round-robin', routes: [{ path: '/guarded', service: 'alpha', auth: { service: 'auth' } }] };
    const p = await proxy(base);
    await p.register('alpha', alpha.port);
    await p.register('auth', auths[0]!.port, 'auth-1');
    await p.register('auth', auths[1]!.port, 'auth-2');
    const port = p.app.addresses.http[0]!.port;
    const checks = async (): Promise<number[]> => {
      const from = auths.map((a) => a.requests);
      for (let i = 0; i < 6; i++) expect(await backendOf(port, '/guarded')).toBe('alpha');
      return auths.map((a, i) => a.requests - from[i]!);
    };
    expect(await checks()).toEqual([3, 3]);

    // consistent-hash keys by client address: every check from 127.0.0.1 goes to one instance.
    p.write({ ...base, balancer: 'consistent-hash' });
    expect((await p.reload()).status).toBe(200);
    expect((await checks()).sort()).toEqual([0, 6]);
  });
});

describe('shared rate limits across proxies', () => {
  it('two proxies listing the same routes in another order count each route under one Redis key', async () => {
    const redis = await RedisServer.start();
    defer(() => redis.stop());
    const api = await backend('api');
    const shared = (path: string) => ({ path, service: 'api', rateLimit: { rate: '1/m', burst: 10, key: 'route', shared: true } });
    const redisConfig = { url: redis.url, prefix: 'rl-order' };
    const a = await startApp({ routes: [shared('/a'), shared('/b')], redis: redisConfig });
    defer(() => a.stop());
    const b = await startApp({ routes: [shared('/b'), shared('/a')], redis: redisConfig });
    defer(() => b.stop());
    await a.register({ service: 'api', id: 'api-1', host: '127.0.0.1', port: api.port });
    await waitFor('proxy B sees the instance', () => b.app.mirror.service('api')?.instances.length === 1);
    expect(await backendOf(a.port, '/a')).toBe('api');
    expect(await backendOf(b.port, '/a')).toBe('api');
    await waitFor('both proxies reported to Redis', () => a.app.rateLimits.sync!.reports > 0 && b.app.rateLimits.sync!.reports > 0);

    const client = new Redis(redis.url, { lazyConnect: true });
    defer(() => void client.disconnect());
    await client.connect();
    const keys = (await client.keys('{rl-order}:ratelimit:*')).filter((key) => !key.endsWith(':proxies'));
    expect(keys).toEqual([`{rl-order}:ratelimit:${configRouteStableId({ path: '/a', headers: {} })}/api:`]);
    // Both proxies' admissions are on that one global bucket (10 − 2 = 8 left, give or take the refill).
    expect(Math.floor(Number(await client.hget(keys[0]!, 'g')))).toBe(8);
  });
});
