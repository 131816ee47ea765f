/**
 * The contract every balancer policy keeps. Run from
 * test/unit/balancer/contract.test.ts once per policy (and sticky variant).
 */
import { describe, expect, it } from 'vitest';
import type { Balancer } from '../../src/balancer/policy.js';
import { endpointSet, idOf, pickContext, seededRandom } from '../helpers/endpoints.js';

/** `create(random)` makes a fresh balancer using the given random source. */
export function runBalancerContract(label: string, create: (random: () => number) => Balancer): void {
  describe(`${label} balancer contract`, () => {
    it('returns undefined for an empty set', () => {
      expect(create(seededRandom()).pick(endpointSet({}), pickContext())).toBeUndefined();
    });

    it('only returns members of the set', () => {
      const set = endpointSet({ a: 1, b: 2, c: 3 });
      const balancer = create(seededRandom());
      for (let i = 0; i < 200; i++) {
        const picked = balancer.pick(set, pickContext({ clientIp: `198.51.100.${i % 250}` }));
        expect(set.endpoints).toContain(picked);
      }
    });

    it('never returns a weight-0 endpoint when others exist', () => {
      const set = endpointSet({ zero: 0, a: 1, b: 5 });
      const balancer = create(seededRandom());
      for (let i = 0; i < 500; i++) {
        expect(idOf(balancer.pick(set, pickContext({ clientIp: `198.51.100.${i % 250}` })))).not.toBe('zero');
      }
    });

    it('avoids endpoints the request already tried when an alternative exists', () => {
      const set = endpointSet({ a: 1, b: 1, c: 1 });
      const balancer = create(seededRandom());
      for (let i = 0; i < 100; i++) {
        const tried = [set.endpoints[i % 3]!, set.endpoints[(i + 1) % 3]!];
        const picked = balancer.pick(set, pickContext({ clientIp: `198.51.100.${i}`, tried }));
        expect(picked).toBe(set.endpoints[(i + 2) % 3]);
      }
    });

    it('still picks a member when every endpoint was already tried', () => {
      const set = endpointSet({ a: 1, b: 1 });
      const picked = create(seededRandom()).pick(set, pickContext({ tried: set.endpoints }));
      expect(set.endpoints).toContain(picked);
    });

    it('is deterministic with an injected random source', () => {
      const run = () => {
        const set = endpointSet({ a: 1, b: 2, c: 7 });
        const balancer = create(seededRandom(7));
        return Array.from({ length: 50 }, (_, i) => idOf(balancer.pick(set, pickContext({ clientIp: `203.0.113.${i}` }))));
      };
      expect(run()).toEqual(run());
    });
  });
}
