import { describe, expect, it } from 'vitest';
import { createBalancer } from '../../../src/balancer/index.js';
import { affinityToken, createSticky } from '../../../src/balancer/sticky.js';
import { createRoundRobin } from '../../../src/balancer/round-robin.js';
import { endpointSet, idOf, pickContext } from '../../helpers/endpoints.js';

describe('sticky sessions by cookie', () => {
  it('pins a request carrying the cookie to its endpoint while it is in the set', () => {
    const sticky = createSticky(createRoundRobin());
    const set = endpointSet({ a: 1, b: 1, c: 1 });
    const cookies = { waypost_affinity: affinityToken('svc/b') };
    for (let i = 0; i < 10; i++) expect(idOf(sticky.pick(set, pickContext({ cookies })))).toBe('b');
  });

  it('falls back to the inner policy once the pinned endpoint leaves the set', () => {
    const sticky = createSticky(createRoundRobin({ random: () => 0 }));
    const without = endpointSet({ a: 1, c: 1 });
    const cookies = { waypost_affinity: affinityToken('svc/b') };
    const picks = Array.from({ length: 4 }, () => idOf(sticky.pick(without, pickContext({ cookies }))));
    expect(picks).toEqual(['a', 'c', 'a', 'c']);
  });

  it('ignores an unknown cookie value', () => {
    const sticky = createSticky(createRoundRobin({ random: () => 0 }));
    const set = endpointSet({ a: 1, b: 1 });
    expect(idOf(sticky.pick(set, pickContext({ cookies: { waypost_affinity: '10.0.0.1:8001' } })))).toBe('a');
  });

  it('sets an opaque cookie that names the endpoint without its address', () => {
    const sticky = createSticky(createRoundRobin(), { cookie: 'aff', ttlMs: 3_600_000 });
    const set = endpointSet({ a: 1 });
    const headers: [string, string][] = [];
    sticky.onResponse(set.endpoints[0]!, (name, value) => headers.push([name, value]));
    expect(headers).toEqual([['set-cookie', `aff=${affinityToken('svc/a')}; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600`]]);
    expect(headers[0]![1]).not.toContain('10.0.0.1');
    expect(affinityToken('svc/a')).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });

  it('derives the same token in every process for the same endpoint key', () => {
    expect(affinityToken('orders/orders-7f3a')).toBe(affinityToken('orders/orders-7f3a'));
    expect(affinityToken('orders/orders-7f3a')).not.toBe(affinityToken('orders/orders-7f3b'));
  });

  it('re-routes a retry away from the pinned endpoint that failed', () => {
    const sticky = createBalancer('round-robin', { sticky: {} });
    const set = endpointSet({ a: 1, b: 1 });
    const cookies = { waypost_affinity: affinityToken('svc/a') };
    expect(idOf(sticky.pick(set, pickContext({ cookies, tried: [set.endpoints[0]!] })))).toBe('b');
  });
});
