import { describe, expect, it } from 'vitest';
import { configSchema, type ConfigInput } from '../../../src/config/schema.js';
import { configRouteStableId, configRouteStableIds } from '../../../src/routing/route-stable-id.js';

const routesOf = (routes: ConfigInput['routes']) => configSchema.parse({ routes }).routes;

describe('config route stable ids', () => {
  it('follow what a route matches, not its place in the file', () => {
    const before = routesOf([
      { host: 'shop.test', path: '/a', service: 'a' },
      { path: '/b', service: 'b', headers: { 'X-Tenant': 't1' } },
    ]);
    const after = routesOf([
      { path: '/new', service: 'n' },
      { path: '/b', service: 'b', headers: { 'x-tenant': 't1' }, rateLimit: { rate: '5/s' } },
      { host: 'SHOP.Test', path: '/a', service: 'a', stripPrefix: true },
    ]);
    const [a, b] = configRouteStableIds(before);
    expect(configRouteStableIds(after)).toEqual([configRouteStableId(after[0]!), b, a]);
    expect(a).toBe('config:["shop.test","/a",[]]');
    expect(b).toBe('config:[null,"/b",[["x-tenant","t1"]]]');
  });

  it('tell apart routes that differ in host, path or header conditions, whatever the header order', () => {
    const ids = configRouteStableIds(
      routesOf([
        { path: '/a', service: 's' },
        { host: 'x.test', path: '/a', service: 's' },
        { path: '/a/', service: 's' },
        { path: '/a', service: 's', headers: { a: '1', b: '2' } },
        { path: '/a', service: 's', headers: { a: '1', b: '3' } },
      ]),
    );
    expect(new Set(ids).size).toBe(5);
    const [one] = routesOf([{ path: '/a', service: 's', headers: { b: '2', A: '1' } }]);
    expect(configRouteStableId(one!)).toBe(ids[3]);
  });

  it('number repeats of one match and service, so a shadowed copy keeps its own state; other services need no number', () => {
    const ids = configRouteStableIds(
      routesOf([
        { path: '/a', service: 's' },
        { path: '/a', service: 't' },
        { path: '/a', service: 's', rateLimit: { rate: '1/s' } },
      ]),
    );
    expect(ids).toEqual(['config:[null,"/a",[]]', 'config:[null,"/a",[]]', 'config:[null,"/a",[]]#2']);
  });
});
