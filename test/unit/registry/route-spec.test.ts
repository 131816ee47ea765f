import { describe, expect, it } from 'vitest';
import { isWaypostError } from '../../../src/errors.js';
import { parseRouteSpec, parseRouteSpecs, parseUrlprefixTag, routesFromConsulTags } from '../../../src/registry/route-spec.js';
import { checkDeclaredRoutes, checkRouteId, parseRouteBody } from '../../../src/registry/routes.js';
import { registrationFor } from '../../../src/sidecar/container-registration.js';
import type { ContainerInspect } from '../../../src/sidecar/docker-api.js';

const fieldOf = (run: () => unknown): string | undefined => {
  try {
    run();
  } catch (err) {
    if (isWaypostError(err)) return `${err.field}: ${err.message}`;
    throw err;
  }
  return undefined;
};

describe('--route and waypost.route specs', () => {
  it.each([
    ['/api/orders', { path: '/api/orders' }],
    ['orders.example.com', { host: 'orders.example.com' }],
    ['orders.example.com/api', { host: 'orders.example.com', path: '/api' }],
    ['/api/orders,stripPrefix', { path: '/api/orders', stripPrefix: true }],
    ['/api,strip', { path: '/api', stripPrefix: true }],
    ['host=orders.example.com,path=/x,stripPrefix=true', { host: 'orders.example.com', path: '/x', stripPrefix: true }],
    ['path=/x, stripPrefix=false', { path: '/x', stripPrefix: false }],
  ])('reads %s', (text, expected) => {
    expect(parseRouteSpec(text)).toEqual(expected);
  });

  it.each([
    ['/x,colour=red', /"colour=red" is not/],
    ['/x,stripPrefix=maybe', /stripPrefix takes true or false/],
    ['', /"" is not/],
  ])('refuses %j naming what it takes', (text, message) => {
    expect(fieldOf(() => parseRouteSpec(text, '--route'))).toMatch(message);
  });

  it('reads several specs from one label separated by ";"', () => {
    expect(parseRouteSpecs('/a,stripPrefix; b.test ;')).toEqual([{ path: '/a', stripPrefix: true }, { host: 'b.test' }]);
  });

  it('turns the waypost.route label into declared routes, and a bad one into a reason', () => {
    const container = (route: string) =>
      ({ Id: 'c'.repeat(64), State: { Running: true }, Config: { Labels: { 'waypost.service': 'web', 'waypost.port': '80', 'waypost.route': route } }, NetworkSettings: { IPAddress: '172.17.0.4' } }) as ContainerInspect;
    expect(registrationFor(container('/web,stripPrefix;web.test'), { registrarId: 'r' })).toMatchObject({
      ok: true,
      input: { routes: [{ path: '/web', stripPrefix: true }, { host: 'web.test', path: '/', stripPrefix: false }] },
    });
    expect(registrationFor(container('web test'), { registrarId: 'r' })).toMatchObject({ ok: false, reason: expect.stringMatching(/^waypost.route label: /) });
  });
});

describe('Consul urlprefix- tags', () => {
  it.each([
    ['urlprefix-/api', { path: '/api' }],
    ['urlprefix-orders.example.com/', { host: 'orders.example.com', path: '/' }],
    ['urlprefix-orders.example.com/api strip=/api', { host: 'orders.example.com', path: '/api', stripPrefix: true }],
    ['urlprefix-:9000', undefined],
    ['urlprefix-/api strip=/other', undefined],
    ['v2', undefined],
  ])('reads %s', (tag, expected) => {
    expect(parseUrlprefixTag(tag)).toEqual(expected);
  });

  it('keeps the tags that make valid routes, once each, and skips the rest', () => {
    expect(routesFromConsulTags(['urlprefix-/a', 'urlprefix-/a', 'urlprefix-bad host/x', 'urlprefix-/b strip=/b', 42, 'v1'])).toEqual([
      { path: '/a', stripPrefix: false },
      { path: '/b', stripPrefix: true },
    ]);
  });
});

describe('route checks', () => {
  it('refuses duplicate declared routes and control characters, naming the entry', () => {
    expect(fieldOf(() => checkDeclaredRoutes([{ path: '/a' }, { path: '/a', stripPrefix: true }]))).toBe('routes[1]: routes[1] declares the same host and path as routes[0]');
    expect(fieldOf(() => checkDeclaredRoutes([{ path: '/a b' }]))).toMatch(/^routes\[0\]\.path: /);
    expect(fieldOf(() => checkDeclaredRoutes([{ host: 'Bad Host' }]))).toMatch(/^routes\[0\]\.host: /);
    expect(fieldOf(() => checkDeclaredRoutes(new Array(17).fill({ path: '/x' })))).toMatch(/at most 16/);
  });

  it('takes route ids of 1-64 lower-case letters, digits, ".", "_" and "-"', () => {
    expect(checkRouteId('orders-api.v2_1')).toBe('orders-api.v2_1');
    for (const bad of ['', 'A', 'route[0]', 'service:x', 'x'.repeat(65)]) expect(fieldOf(() => checkRouteId(bad))).toMatch(/^id: /);
  });

  it('stores a route body with sorted keys so equal bodies compare equal', () => {
    expect(JSON.stringify(parseRouteBody({ service: 'a', path: '/x', headers: { b: '1', a: '2' } }))).toBe('{"headers":{"a":"2","b":"1"},"path":"/x","service":"a"}');
  });
});
