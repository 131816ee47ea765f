import { describe, expect, it } from 'vitest';
import { DEFAULT_LEASE_POLICY, generateInstanceId, leasePolicy, shouldHoldExpiry } from '../../src/registry/lease.js';

describe('self-preservation decision', () => {
  const cases: [string, number, number, number, number, boolean][] = [
    ['holds when every instance of a 5-instance service would expire', 5, 5, 0.85, 3, true],
    ['holds when just over the fraction would expire', 9, 10, 0.85, 3, true],
    ['expires when exactly the fraction would expire', 17, 20, 0.85, 3, false],
    ['expires when fewer than the fraction would expire', 3, 5, 0.85, 3, false],
    ['never holds a service below the minimum size', 2, 2, 0.85, 3, false],
    ['holds a service of exactly the minimum size', 3, 3, 0.85, 3, true],
    ['never holds when the fraction is 0 (disabled)', 5, 5, 0, 3, false],
    ['never holds when nothing is due', 0, 5, 0.85, 3, false],
  ];
  for (const [name, wouldExpire, instances, fraction, min, expected] of cases) {
    it(name, () => expect(shouldHoldExpiry(wouldExpire, instances, fraction, min)).toBe(expected));
  }
});

describe('lease policy', () => {
  it('fills every option it was not given with the documented default', () => {
    expect(leasePolicy({})).toEqual({
      defaultTtlSeconds: 30, selfPreservation: 0.85, selfPreservationMinInstances: 3, sweepIntervalMs: 1000,
      maxInstancesPerService: 10_000,
    });
    expect(leasePolicy({ selfPreservation: 0 }).selfPreservation).toBe(0);
    expect(Object.isFrozen(DEFAULT_LEASE_POLICY)).toBe(true);
  });

  it('generates ids of the service name and 8 hex digits', () => {
    const ids = new Set(Array.from({ length: 100 }, () => generateInstanceId('orders')));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(/^orders-[0-9a-f]{8}$/);
  });
});
