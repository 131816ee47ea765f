import { describe, expect, it } from 'vitest';
import { createRandom } from '../../../src/balancer/random.js';
import { endpointSet, pickContext, seededRandom, shares } from '../../helpers/endpoints.js';

describe('weighted random', () => {
  it('follows weights 1:2:7 within 3 % over 10,000 picks', () => {
    const set = endpointSet({ a: 1, b: 2, c: 7 });
    const balancer = createRandom({ random: seededRandom(1) });
    const result = shares(() => balancer.pick(set, pickContext()), 10_000);
    expect(Math.abs(result.a! - 0.1)).toBeLessThanOrEqual(0.03);
    expect(Math.abs(result.b! - 0.2)).toBeLessThanOrEqual(0.03);
    expect(Math.abs(result.c! - 0.7)).toBeLessThanOrEqual(0.03);
  });

  it('maps the ends of the random range to the first and last weighted endpoints', () => {
    const set = endpointSet({ zero: 0, a: 1, b: 1 });
    expect(createRandom({ random: () => 0 }).pick(set, pickContext())?.instance.id).toBe('a');
    expect(createRandom({ random: () => 0.999999 }).pick(set, pickContext())?.instance.id).toBe('b');
  });
});
