import { describe, expect, it } from 'vitest';
import { createRoundRobin } from '../../../src/balancer/round-robin.js';
import type { EndpointSet } from '../../../src/endpoint.js';
import { endpointSet, idOf, pickContext, seededRandom, shares } from '../../helpers/endpoints.js';

describe('smooth weighted round-robin', () => {
  it('produces the nginx smooth sequence for weights 5, 1, 1', () => {
    const set = endpointSet({ a: 5, b: 1, c: 1 });
    const balancer = createRoundRobin({ random: () => 0 });
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

  it('continues the rotation when the set is rebuilt with the same endpoints', () => {
    const balancer = createRoundRobin({ random: () => 0 });
    const before = endpointSet({ a: 1, b: 1, c: 1 });
    expect([balancer.pick(before, pickContext()), balancer.pick(before, pickContext())].map(idOf)).toEqual(['a', 'b']);
    // A health or registry change rebuilt the set: same endpoints, new object.
    const after = endpointSet({ a: 1, b: 1, c: 1 });
    expect(Array.from({ length: 4 }, () => idOf(balancer.pick(after, pickContext())))).toEqual(['c', 'a', 'b', 'c']);
  });

  it('keeps each endpoint\'s place when a long-period set loses an endpoint', () => {
    // Coprime weights: no precomputed schedule, so the nginx step runs on the carried state.
    const balancer = createRoundRobin({ random: () => 0 });
    const before = endpointSet({ a: 9973, b: 9967, c: 9949, d: 9941 });
    expect([balancer.pick(before, pickContext()), balancer.pick(before, pickContext())].map(idOf)).toEqual(['a', 'b']);
    // b was ejected: c and d are still owed their turn before a comes round again.
    const after = endpointSet({ a: 9973, c: 9949, d: 9941 });
    expect([balancer.pick(after, pickContext()), balancer.pick(after, pickContext())].map(idOf)).toEqual(['c', 'd']);
  });

  const layouts: [string, Record<string, number>, Record<string, number>][] = [
    ['a short schedule', { a: 1, b: 1, c: 1 }, { a: 1, b: 1, c: 1, d: 1 }],
    ['a slow-start step', { a: 100, b: 100, c: 100, d: 10 }, { a: 100, b: 100, c: 100, d: 20 }],
    ['a long period', { a: 9973, b: 9967, c: 9949 }, { a: 9973, b: 9967, c: 9949, d: 9941 }],
  ];
  it.each(layouts)('spreads the first picks of many proxies after %s rebuilds the set', (_, beforeWeights, afterWeights) => {
    const proxies = Array.from({ length: 40 }, (_, i) => createRoundRobin({ random: seededRandom(i + 1) }));
    const before = endpointSet(beforeWeights);
    for (const proxy of proxies) proxy.pick(before, pickContext());
    // Every proxy sees the same rebuilt set at the same moment (a shared ejection, a slow-start step).
    const after: EndpointSet = endpointSet(afterWeights);
    const firstPicks: Record<string, number> = {};
    for (const proxy of proxies) {
      const id = idOf(proxy.pick(after, pickContext()))!;
      firstPicks[id] = (firstPicks[id] ?? 0) + 1;
    }
    expect(Object.keys(firstPicks).length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...Object.values(firstPicks))).toBeLessThanOrEqual(proxies.length / 2);
  });
});
