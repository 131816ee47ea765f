import { describe, expect, it } from 'vitest';
import { EndpointSets } from '../../../src/health/endpoint-sets.js';
import { affinityToken } from '../../../src/balancer/sticky.js';
import { ManualClock } from '../../../src/clock.js';
import { configSchema, type ConfigInput } from '../../../src/config/schema.js';
import { EndpointPool } from '../../../src/health/state.js';
import type { ServiceState } from '../../../src/registry/store.js';
import { RouteTable } from '../../../src/routing/table.js';
import { pickContext, record, serviceState } from '../../helpers/endpoints.js';

function table(input: ConfigInput, states: ServiceState[] = []) {
  const config = configSchema.parse(input);
  const services = new Map(states.map((s) => [s.name, s]));
  const clock = new ManualClock();
  const endpointSets = new EndpointSets({ pool: new EndpointPool(clock), clock, panicThreshold: 0 });
  return new RouteTable({ config, services, endpointSets });
}

const noHeaders = () => undefined;
const headersOf = (h: Record<string, string>) => (name: string) => h[name];

const routes: ConfigInput['routes'] = [
  { host: 'api.example.com', path: '/orders', service: 'orders-exact' },
  { host: 'api.example.com', path: '/orders/v2', service: 'orders-v2' },
  { host: 'api.example.com', path: '/orders', service: 'orders-canary', headers: { 'X-Canary': '1' } },
  { host: 'api.example.com', path: '/', service: 'api-root' },
  { host: '*.example.com', path: '/', service: 'wild' },
  { host: '*.deep.example.com', path: '/', service: 'wild-deep' },
  { host: '*.localhost', path: '/special', service: 'wild-localhost' },
  { path: '/static', service: 'static' },
  { host: 'strip.example.com', path: '/orders', service: 'stripped', stripPrefix: true },
];

describe('route table precedence', () => {
  const router = table({ routes, domains: ['localhost', 'svc.internal'] }, [serviceState('orders', []), serviceState('users', [])]);

  it.each([
    ['exact host, longest prefix', 'api.example.com', '/orders/v2/1', {}, 'orders-v2', 'route[1]'],
    ['exact host, prefix', 'api.example.com', '/orders/7', {}, 'orders-exact', 'route[0]'],
    ['header match beats no-header route on the same host and path', 'api.example.com', '/orders/7', { 'x-canary': '1' }, 'orders-canary', 'route[2]'],
    ['header value must be exact', 'api.example.com', '/orders/7', { 'x-canary': '2' }, 'orders-exact', 'route[0]'],
    ['exact host root catches the rest', 'api.example.com', '/users', {}, 'api-root', 'route[3]'],
    ['exact host beats wildcard', 'api.example.com', '/', {}, 'api-root', 'route[3]'],
    ['wildcard', 'web.example.com', '/x', {}, 'wild', 'route[4]'],
    ['longest wildcard suffix first', 'a.deep.example.com', '/x', {}, 'wild-deep', 'route[5]'],
    ['wildcard beats host convention', 'orders.localhost', '/special/1', {}, 'wild-localhost', 'route[6]'],
    ['host-less route', 'other.test', '/static/app.js', {}, 'static', 'route[7]'],
    ['host convention', 'orders.localhost', '/x', {}, 'orders', 'convention'],
    ['host convention on a second domain', 'users.svc.internal', '/', {}, 'users', 'convention'],
    ['host with port and upper case is normalised', 'API.Example.com:8080', '/orders/1', {}, 'orders-exact', 'route[0]'],
    ['trailing dot is ignored', 'orders.localhost.', '/', {}, 'orders', 'convention'],
  ])('%s: %s%s → %s', (_case, host, path, headers, service, routeId) => {
    const match = router.match(host, path, headersOf(headers));
    expect(match?.service).toBe(service);
    expect(match?.routeId).toBe(routeId);
  });

  it.each([
    ['an unknown host', 'unknown.test', '/'],
    ['the bare domain', 'localhost', '/'],
    ['a convention name that is not a service name', 'a.b.localhost', '/'],
    ['a wildcard that does not cover the bare suffix', 'example.com', '/'],
    ['a convention name the registry does not know (no metric series per made-up host)', 'nobody.localhost', '/'],
  ])('returns undefined for %s', (_case, host, path) => {
    expect(router.match(host, path, noHeaders)).toBeUndefined();
  });

  it('strips the prefix and keeps the query string', () => {
    expect(router.match('strip.example.com', '/orders/1?x=1', noHeaders)?.upstreamPath).toBe('/1?x=1');
    expect(router.match('strip.example.com', '/orders', noHeaders)?.upstreamPath).toBe('/');
    expect(router.match('api.example.com', '/orders/1?x=1', noHeaders)?.upstreamPath).toBe('/orders/1?x=1');
  });
});

describe('a catch-all route', () => {
  const router = table({ routes: [{ path: '/', service: 'fallback' }, { path: '/static', service: 'static' }] }, [serviceState('orders', [])]);

  it.each([
    ['takes any host and path nothing more specific takes', 'unknown.test', '/x', 'fallback'],
    ['yields to a host-less route with a longer prefix', 'unknown.test', '/static/a.js', 'static'],
    ['yields to the host convention for a registered service', 'orders.localhost', '/x', 'orders'],
  ])('%s', (_case, host, path, service) => {
    expect(router.match(host, path, noHeaders)?.service).toBe(service);
  });
});

describe('route match settings', () => {
  it('applies route retries and timeouts over the global ones', () => {
    const router = table({
      retries: 3,
      timeouts: { connect: '1s', header: '20s', idle: '40s' },
      routes: [{ host: 'a.test', service: 'a', retries: 0, timeouts: { header: '5s' } }],
    }, [serviceState('b', [])]);
    const match = router.match('a.test', '/', noHeaders)!;
    expect(match.retries).toBe(0);
    expect(match.timeouts).toEqual({ connect: 1000, header: 5000, idle: 40_000 });
    const convention = router.match('b.localhost', '/', noHeaders)!;
    expect(convention.retries).toBe(3);
    expect(convention.timeouts).toEqual({ connect: 1000, header: 20_000, idle: 40_000 });
  });

  it('still matches a route whose service the registry does not know, and picks nothing', () => {
    const router = table({ routes: [{ host: 'a.test', service: 'ghost' }] });
    const match = router.match('a.test', '/', noHeaders);
    expect(match?.service).toBe('ghost');
    expect(match?.pick(pickContext())).toBeUndefined();
  });

  it('picks from the service\'s eligible endpoints with the route balancer', () => {
    const orders = serviceState('orders', [record('orders', 'a', { port: 1 }), record('orders', 'b', { port: 2 })]);
    const router = table({ balancer: 'round-robin' }, [orders]);
    const match = router.match('orders.localhost', '/', noHeaders)!;
    // Round-robin starts at a random point of its rotation (so proxies do not herd), then alternates.
    const picks = [1, 2, 3, 4].map(() => match.pick(pickContext())?.instance.id);
    expect(new Set(picks)).toEqual(new Set(['a', 'b']));
    expect(picks.slice(2)).toEqual(picks.slice(0, 2));
  });

  it('picks nothing when the service has no eligible instance', () => {
    const orders = serviceState('orders', [record('orders', 'a', { status: 'DRAINING' })]);
    const router = table({}, [orders]);
    expect(router.match('orders.localhost', '/', noHeaders)!.pick(pickContext())).toBeUndefined();
  });

  it('offers onResponse only on sticky routes, setting the affinity cookie', () => {
    const orders = serviceState('orders', [record('orders', 'a', { port: 1 }), record('orders', 'b', { port: 2 })]);
    const router = table(
      { routes: [{ host: 's.test', service: 'orders', sticky: { cookie: 'pin', ttl: '1m' } }, { host: 'n.test', service: 'orders' }] },
      [orders],
    );
    expect(router.match('n.test', '/', noHeaders)!.onResponse).toBeUndefined();
    const match = router.match('s.test', '/', noHeaders)!;
    const pinned = match.pick(pickContext({ cookies: { pin: affinityToken('orders/b') } }))!;
    expect(pinned.instance.id).toBe('b');
    const set: string[] = [];
    match.onResponse!(pinned, (name, value) => set.push(`${name}: ${value}`));
    expect(set).toEqual([`set-cookie: pin=${affinityToken('orders/b')}; Path=/; HttpOnly; SameSite=Lax; Max-Age=60`]);
  });

  it('hashes the configured header for a consistent-hash route', () => {
    const instances = Array.from({ length: 5 }, (_, i) => record('orders', `i${i}`, { port: i + 1 }));
    const router = table(
      { routes: [{ host: 'h.test', service: 'orders', balancer: 'consistent-hash', hashKey: { header: 'x-user' } }] },
      [serviceState('orders', instances)],
    );
    const match = router.match('h.test', '/', noHeaders)!;
    const first = match.pick(pickContext({ headers: { 'x-user': 'alice' }, clientIp: '192.0.2.1' }));
    const again = match.pick(pickContext({ headers: { 'x-user': 'alice' }, clientIp: '192.0.2.2' }));
    expect(again).toBe(first);
  });
});

describe('retry policy precedence', () => {
  const router = table(
    {
      retries: 1,
      defaults: { retry: { on: [503], attempts: 3 } },
      routes: [
        { host: 'short.test', service: 'orders', retries: 0 },
        { host: 'long.test', service: 'orders', retry: { on: ['reset'], attempts: 1 } },
        { host: 'default.test', service: 'orders' },
      ],
    },
    [serviceState('orders', [])],
  );

  it('a route’s own retries (the short form) stands against defaults.retry', () => {
    const match = router.match('short.test', '/', noHeaders)!;
    expect(match.policy?.retry).toBeUndefined();
    expect(match.retries).toBe(0);
  });

  it('a route’s retry, else defaults.retry, replaces the global retries', () => {
    expect(router.match('long.test', '/', noHeaders)!.policy?.retry?.attempts).toBe(1);
    expect(router.match('default.test', '/', noHeaders)!.policy?.retry?.attempts).toBe(3);
  });
});
