import { describe, expect, it } from 'vitest';
import { createLeastConnections } from '../../../src/balancer/least-connections.js';
import { createLeastRequest } from '../../../src/balancer/least-request.js';
import { endpointSet, pickContext, seededRandom, shares } from '../../helpers/endpoints.js';

describe.each([
  ['least-request', createLeastRequest],
  ['least-connections', createLeastConnections],
])('%s (weighted power of two choices)', (_name, create) => {
  it('follows weights 1:2:7 within 3 % when every endpoint is idle', () => {
    const set = endpointSet({ a: 1, b: 2, c: 7 });
    const balancer = create({ random: seededRandom(3) });
    const result = shares(() => balancer.pick(set, pickContext()), 10_000);
    expect(Math.abs(result.a! - 0.1)).toBeLessThanOrEqual(0.03);
    expect(Math.abs(result.b! - 0.2)).toBeLessThanOrEqual(0.03);
    expect(Math.abs(result.c! - 0.7)).toBeLessThanOrEqual(0.03);
  });

  it('prefers the endpoint with fewer requests in flight', () => {
    const set = endpointSet({ busy: 1, idle: 1 }, { busy: 10, idle: 0 });
    const balancer = create({ random: seededRandom(5) });
    const result = shares(() => balancer.pick(set, pickContext()), 1000);
    // Only a draw of "busy" twice can pick it: about 1/4 of the time.
    expect(result.idle).toBeGreaterThan(0.7);
  });

  it('compares in-flight work per unit of weight', () => {
    // heavy: 4 in flight / weight 8 = 0.5; light: 1 / 1 = 1.
    const set = endpointSet({ heavy: 8, light: 1 }, { heavy: 4, light: 1 });
    const balancer = create({ random: (() => { let i = 0; return () => [0.99, 0.0][i++ % 2]!; })() });
    expect(balancer.pick(set, pickContext())?.instance.id).toBe('heavy');
  });

  it('always picks the idle endpoint when the two draws differ', () => {
    const set = endpointSet({ a: 1, b: 1 }, { a: 3, b: 0 });
    const sequence = [0.1, 0.9];
    let i = 0;
    const balancer = create({ random: () => sequence[i++ % 2]! });
    expect(balancer.pick(set, pickContext())?.instance.id).toBe('b');
  });
});
