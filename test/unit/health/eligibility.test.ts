import { describe, expect, it } from 'vitest';
import { healthOf, isEligible, poolHealthOf } from '../../../src/health/eligibility.js';
import { EndpointPool } from '../../../src/health/state.js';
import { ManualClock } from '../../../src/clock.js';
import type { InstanceStatus } from '../../../src/types.js';
import { record } from '../../helpers/endpoints.js';

const NOW = 1_000_000;

// status, weight, ejected, activeHealthy → eligible, healthOf
const table: [InstanceStatus, number, boolean, boolean | undefined, boolean, string][] = [
  ['UP', 100, false, undefined, true, 'healthy'],
  ['UP', 100, false, true, true, 'healthy'],
  ['UP', 100, false, false, false, 'unhealthy'],
  ['UP', 100, true, undefined, false, 'ejected'],
  ['UP', 100, true, false, false, 'ejected'],
  ['UP', 0, false, undefined, false, 'draining'],
  ['UP', 0, true, false, false, 'draining'],
  ['DRAINING', 100, false, true, false, 'draining'],
  ['DRAINING', 100, true, undefined, false, 'draining'],
  ['OUT_OF_SERVICE', 100, false, true, false, 'unhealthy'],
  ['OUT_OF_SERVICE', 0, true, false, false, 'unhealthy'],
];

describe('the eligibility rule', () => {
  it.each(table)(
    'status %s, weight %i, ejected %s, active check %s → eligible %s, shown as %s',
    (status, weight, ejected, activeHealthy, eligible, health) => {
      const r = record('svc', 'a', { status, weight });
      const stats = { ejectedUntil: ejected ? NOW + 1 : 0, activeHealthy };
      expect(isEligible(r, stats, NOW)).toBe(eligible);
      expect(healthOf(r, stats, NOW)).toBe(health);
    },
  );

  it('treats an ejection that ended exactly now as over', () => {
    const r = record('svc', 'a');
    expect(isEligible(r, { ejectedUntil: NOW, activeHealthy: undefined }, NOW)).toBe(true);
  });

  it('treats an instance without stats as eligible when UP with weight', () => {
    expect(isEligible(record('svc', 'a'), undefined, NOW)).toBe(true);
    expect(healthOf(record('svc', 'a'), undefined, NOW)).toBe('healthy');
  });

  it('reads the pool through poolHealthOf for the admin API', () => {
    const clock = new ManualClock();
    const pool = new EndpointPool(clock);
    pool.eject('svc', 'a', clock.now() + 1000);
    const view = poolHealthOf(pool, () => clock.now());
    expect(view(record('svc', 'a'))).toBe('ejected');
    clock.advance(1000);
    expect(view(record('svc', 'a'))).toBe('healthy');
  });
});
