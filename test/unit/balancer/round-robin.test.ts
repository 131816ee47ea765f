import { describe, expect, it } from 'vitest';
import { createRoundRobin } from '../../../src/balancer/round-robin.js';
import { endpointSet, idOf, pickContext, shares } from '../../helpers/endpoints.js';

describe('smooth weighted round-robin', () => {
  it('produces the nginx smooth sequence for weights 5, 1, 1', () => {
    const set = endpointSet({ a: 5, b: 1, c: 1 });
    const balancer = createRoundRobin();
    const sequence = Array.from({ length: 14 }, () => idOf(balancer.pick(set, pickContext()))).join(' ');
    expect(sequence).toBe('a a b a c a a a a b a c a a');
  });

  it('follows weights 1:2:7 within 2 % over 10,000 picks', () => {
    const set = endpointSet({ a: 1, b: 2, c: 7 });
    const balancer = createRoundRobin();
    const result = shares(() => balancer.pick(set, pickContext()), 10_000);
    expect(Math.abs(result.a! - 0.1)).toBeLessThanOrEqual(0.02);
    expect(Math.abs(result.b! - 0.2)).toBeLessThanOrEqual(0.02);
    expect(Math.abs(result.c! - 0.7)).toBeLessThanOrEqual(0.02);
  });

  it('gives the same sequence when the period is too long to precompute', () => {
    // Weights 9973 and 9967 are coprime: the period (19,940) exceeds the schedule limit with 4 endpoints.
    const set = endpointSet({ a: 9973, b: 9967, c: 9949, d: 9941 });
    const balancer = createRoundRobin();
    const result = shares(() => balancer.pick(set, pickContext()), 10_000);
    for (const id of ['a', 'b', 'c', 'd']) expect(Math.abs(result[id]! - 0.25)).toBeLessThanOrEqual(0.02);
  });

  it('keeps rotating after a retry skips a tried endpoint', () => {
    const set = endpointSet({ a: 1, b: 1, c: 1 });
    const balancer = createRoundRobin();
    const first = balancer.pick(set, pickContext())!;
    const retry = balancer.pick(set, pickContext({ tried: [first] }));
    expect(retry).not.toBe(first);
  });
});
