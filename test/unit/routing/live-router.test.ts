import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { configSchema, type ConfigInput } from '../../../src/config/schema.js';
import { EndpointPool } from '../../../src/health/state.js';
import { EndpointSets } from '../../../src/health/endpoint-sets.js';
import { silentLogger } from '../../../src/log.js';
import type { StoredRoute } from '../../../src/registry/store.js';
import { LiveRouter } from '../../../src/routing/live-router.js';

function liveRouter(input: ConfigInput = {}): LiveRouter {
  const clock = new ManualClock();
  return new LiveRouter({
    config: configSchema.parse({ domains: [], ...input }),
    services: new Map(),
    endpointSets: new EndpointSets({ pool: new EndpointPool(clock), clock, panicThreshold: 0 }),
    logger: silentLogger,
  });
}

const api = (id: string, route: Record<string, unknown>, revision = 1): StoredRoute => ({ id, route, revision });
const noHeaders = () => undefined;
const routed = (router: LiveRouter, host: string, path: string) => {
  const match = router.match(host, path, noHeaders);
  return match && `${match.routeId} ${match.service} ${match.upstreamPath}`;
};
/** The router rebuilds one microtask after a change. */
const settled = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

describe('live router', () => {
  it('gives config routes precedence over API routes, and API routes over declared ones, on an equal match', async () => {
    const router = liveRouter({ routes: [{ host: 'shop.test', path: '/pay', service: 'from-config' }] });
    router.setApiRoutes([api('pay', { host: 'shop.test', path: '/pay', service: 'from-api' }), api('cart', { host: 'shop.test', path: '/cart', service: 'from-api' })], 3);
    router.setDeclaredRoutes('from-service', [
      { host: 'shop.test', path: '/pay', stripPrefix: false },
      { host: 'shop.test', path: '/cart', stripPrefix: false },
      { host: 'shop.test', path: '/shelf', stripPrefix: true },
    ], 4);
    await settled();
    expect(routed(router, 'shop.test', '/pay/1')).toBe('route[0] from-config /pay/1');
    expect(routed(router, 'shop.test', '/cart')).toBe('cart from-api /cart');
    expect(routed(router, 'shop.test', '/shelf/3')).toBe('service:from-service:shop.test/shelf from-service /3');
    // A longer prefix still wins whatever its source: precedence only breaks ties.
    router.setDeclaredRoutes('from-service', [{ host: 'shop.test', path: '/pay/special', stripPrefix: false }], 5);
    await settled();
    expect(routed(router, 'shop.test', '/pay/special/1')).toBe('service:from-service:shop.test/pay/special from-service /pay/special/1');
  });

  it('lists every route with its source in precedence order, and the revision of the last route change', async () => {
    const router = liveRouter({ routes: [{ path: '/c', service: 'conf' }] });
    router.setDeclaredRoutes('orders', [{ path: '/o', stripPrefix: true }, { path: '/o', stripPrefix: true }], 7);
    router.setApiRoutes([api('b', { path: '/b', service: 'x' }), api('a', { path: '/a', service: 'x' })], 9);
    const listing = router.list();
    expect(listing.revision).toBe(9);
    expect(listing.routes.map((r) => `${r.id} ${r.source} ${r.declaredBy ?? '-'}`)).toEqual([
      'route[0] config -',
      'a api -',
      'b api -',
      'service:orders:/o declared orders',
    ]);
    expect(listing.routes[3]!.route).toEqual({ path: '/o', stripPrefix: true, service: 'orders' });
  });

  it('swaps the table whole: a match taken before a change keeps its route, later matches see the new one', async () => {
    const router = liveRouter();
    router.setApiRoutes([api('r', { path: '/r', service: 'old' })], 1);
    await settled();
    const before = router.match('any.test', '/r', noHeaders)!;
    router.setApiRoutes([api('r', { path: '/r', service: 'new', stripPrefix: true })], 2);
    expect(router.match('any.test', '/r', noHeaders)!.service).toBe('old');
    await settled();
    expect(before.service).toBe('old');
    expect(routed(router, 'any.test', '/r/1')).toBe('r new /1');
  });

  it('does not rebuild when a service declares what it already declared', async () => {
    const router = liveRouter();
    router.setDeclaredRoutes('orders', [{ path: '/o', stripPrefix: false }], 1);
    await settled();
    const listing = router.list();
    router.setDeclaredRoutes('orders', [{ path: '/o', stripPrefix: false }, { path: '/o', stripPrefix: false }], 2);
    await settled();
    expect(router.list()).toBe(listing);
    router.setDeclaredRoutes('orders', [], 3);
    await settled();
    expect(router.list().routes).toEqual([]);
    expect(router.match('x', '/o', noHeaders)).toBeUndefined();
  });

  it('rebuilds from new config routes at once on setConfig and keeps the registry routes', async () => {
    const router = liveRouter({ routes: [{ path: '/c', service: 'one' }] });
    router.setApiRoutes([api('a', { path: '/a', service: 'x' })], 1);
    router.setConfig(configSchema.parse({ domains: [], routes: [{ path: '/c', service: 'two' }] }));
    expect(routed(router, 'h', '/c')).toBe('route[0] two /c');
    expect(routed(router, 'h', '/a')).toBe('a x /a');
  });

  it('wakes a waiter when the route set changes after its revision', async () => {
    const router = liveRouter();
    router.setApiRoutes([api('a', { path: '/a', service: 'x' })], 4);
    const waiting = router.waitForChange(4, 10_000);
    router.setApiRoutes([], 5);
    await waiting;
    expect(router.list().revision).toBe(5);
    const started = Date.now();
    await router.waitForChange(5, 50);
    expect(Date.now() - started).toBeGreaterThanOrEqual(40);
  });

  it('moves the listing revision on a reload that changes the config routes, and keeps moving with registry changes after it', async () => {
    const routes = [{ path: '/c', service: 'conf' }];
    const router = liveRouter({ routes });
    router.setApiRoutes([api('a', { path: '/a', service: 'x' })], 4);
    expect(router.list().revision).toBe(4);
    // Same routes (other defaults): nothing new to list, no new revision, no waiter woken.
    router.setConfig(configSchema.parse({ domains: [], routes, retries: 3 }));
    expect(router.list().revision).toBe(4);
    const waiting = router.waitForChange(4, 10_000);
    router.setConfig(configSchema.parse({ domains: [], routes: [...routes, { path: '/d', service: 'conf' }] }));
    await waiting;
    expect(router.list().revision).toBe(5);
    // The registry's next revision (5) still moves it: a lister waiting on 5 hears of it.
    const next = router.waitForChange(5, 10_000);
    router.setApiRoutes([], 5);
    await next;
    expect(router.list()).toMatchObject({ revision: 6, routes: [{ id: 'route[0]' }, { id: 'route[1]' }] });
  });

  it('rebuilds a table of 10,000 API routes off the request path (prints the time)', async () => {
    const router = liveRouter();
    const routes = Array.from({ length: 10_000 }, (_, i) => api(`r${i}`, { host: `h${i % 100}.test`, path: `/p${i}`, service: 'svc' }));
    router.setApiRoutes(routes, 1);
    const started = performance.now();
    router.list();
    const firstMs = performance.now() - started;
    router.setApiRoutes([...routes, api('extra', { path: '/extra', service: 'svc' })], 2);
    const again = performance.now();
    router.list();
    const rebuildMs = performance.now() - again;
    console.log(`route table at 10,000 API routes: first build ${firstMs.toFixed(1)} ms (parses bodies), rebuild after one change ${rebuildMs.toFixed(1)} ms`);
    expect(routed(router, 'h42.test', '/p9942/x')).toBe('r9942 svc /p9942/x');
    expect(rebuildMs).toBeLessThan(5_000);
  });

  it('swaps a reload\'s prepared table at commit, built again when a registry route changed in between; a bad table throws at prepare', async () => {
    const router = liveRouter({ routes: [{ path: '/old', service: 'conf' }] });
    router.setApiRoutes([api('a', { path: '/a', service: 'x' })], 2);
    await settled();
    const next = configSchema.parse({ domains: [], routes: [{ path: '/new', service: 'conf' }] });
    const commit = router.prepareConfig(next);
    // Prepared only: requests still route on the old table.
    expect(routed(router, 'any.test', '/old')).toBe('route[0] conf /old');
    router.setApiRoutes([api('a', { path: '/a', service: 'x' }), api('b', { path: '/b', service: 'x' })], 3);
    commit();
    expect(routed(router, 'any.test', '/old')).toBeUndefined();
    expect(routed(router, 'any.test', '/new')).toBe('route[0] conf /new');
    expect(routed(router, 'any.test', '/b')).toBe('b x /b');
    expect(router.list().routes.map((r) => r.id)).toEqual(['route[0]', 'a', 'b']);
    // An invalid balancer name only reaches the table past the schema: prepare throws, nothing changes.
    const broken = { ...next, routes: [{ ...next.routes[0]!, balancer: 'nope' as never }] };
    expect(() => router.prepareConfig(broken)).toThrow();
    expect(routed(router, 'any.test', '/new')).toBe('route[0] conf /new');
  });
});
