import { describe, expect, it } from 'vitest';
import { EndpointSets } from '../../../src/health/endpoint-sets.js';
import type { Endpoint } from '../../../src/endpoint.js';
import { ManualClock } from '../../../src/clock.js';
import { OutlierDetector, type EjectionNotice } from '../../../src/health/passive.js';
import { EndpointPool } from '../../../src/health/state.js';
import { silentLogger } from '../../../src/log.js';
import { Metrics } from '../../../src/metrics.js';
import type { ServiceState } from '../../../src/registry/store.js';
import { record, serviceState } from '../../helpers/endpoints.js';

const BASE = 1_000;
const MAX = 4_000;

function setup(instances = 3, config: { consecutiveFailures?: number; maxEjectionPercent?: number } = {}) {
  const clock = new ManualClock();
  const pool = new EndpointPool(clock);
  const sets = new EndpointSets({ pool, clock, panicThreshold: 0 });
  const state: ServiceState = serviceState(
    'orders',
    Array.from({ length: instances }, (_, i) => record('orders', `i${i}`, { port: 9000 + i })),
  );
  const metrics = new Metrics({ processMetrics: false });
  const shared: EjectionNotice[] = [];
  const detector = new OutlierDetector({
    pool,
    services: { service: (name) => (name === 'orders' ? state : undefined) },
    config: {
      consecutiveFailures: config.consecutiveFailures ?? 3,
      baseEjection: BASE,
      maxEjection: MAX,
      maxEjectionPercent: config.maxEjectionPercent ?? 50,
    },
    metrics,
    logger: silentLogger,
    clock,
    onEject: (notice) => shared.push(notice),
  });
  const endpoint = (id: string): Endpoint => {
    // Ejected endpoints are not in the eligible set; build the set with panic-free full membership first.
    const found = sets.forService(state).endpoints.find((e) => e.instance.id === id);
    if (found) return found;
    return { key: `orders/${id}`, instance: state.instances.find((r) => r.id === id)!, address: '', weight: 100, stats: pool.stats('orders', id) };
  };
  const eligible = () => sets.forService(state).endpoints.map((e) => e.instance.id);
  const fail = (id: string, times: number, reason = 'status_5xx') => {
    const e = endpoint(id);
    for (let i = 0; i < times; i++) detector.onFailure(e, reason);
  };
  const ejectedFor = (id: string) => pool.peek('orders', id)!.ejectedUntil - clock.now();
  return { clock, pool, sets, detector, metrics, shared, endpoint, eligible, fail, ejectedFor, state };
}

describe('OutlierDetector', () => {
  it('ejects an instance after exactly consecutiveFailures gateway failures', () => {
    const { fail, eligible } = setup();
    fail('i1', 2);
    expect(eligible()).toEqual(['i0', 'i1', 'i2']);
    fail('i1', 1);
    expect(eligible()).toEqual(['i0', 'i2']);
  });

  it('starts counting again after a success', () => {
    const { detector, endpoint, fail, eligible } = setup();
    fail('i1', 2);
    detector.onSuccess(endpoint('i1'));
    fail('i1', 2);
    expect(eligible()).toEqual(['i0', 'i1', 'i2']);
  });

  it('counts connect failures, resets and timeouts but not client-side or unknown errors', () => {
    const { fail, eligible } = setup(4, { consecutiveFailures: 2, maxEjectionPercent: 100 });
    fail('i0', 2, 'connect_refused');
    fail('i1', 2, 'connect_timeout');
    fail('i2', 2, 'reset');
    fail('i3', 5, 'other');
    expect(eligible()).toEqual(['i3']);
  });

  it('doubles the ejection with each repeat up to maxEjection, and the instance returns each time', () => {
    const { fail, eligible, ejectedFor, clock } = setup();
    const lengths: number[] = [];
    for (let round = 0; round < 4; round++) {
      fail('i1', 3);
      lengths.push(ejectedFor('i1'));
      expect(eligible()).not.toContain('i1');
      clock.advance(ejectedFor('i1') - 1);
      expect(eligible()).not.toContain('i1');
      clock.advance(1);
      // The cached set ends exactly at the ejection's end (EndpointSets' validUntil).
      expect(eligible()).toContain('i1');
    }
    expect(lengths).toEqual([1000, 2000, 4000, 4000]);
  });

  it('forgets one backoff step per quiet maxEjection period after a return', () => {
    const { fail, ejectedFor, clock } = setup();
    fail('i1', 3);
    clock.advance(BASE);
    fail('i1', 3);
    expect(ejectedFor('i1')).toBe(2000);
    clock.advance(2000 + MAX);
    fail('i1', 3);
    expect(ejectedFor('i1')).toBe(2000);
    clock.advance(2000 + 2 * MAX);
    fail('i1', 3);
    expect(ejectedFor('i1')).toBe(1000);
  });

  it('ignores failures while the instance is ejected, so panic traffic does not stretch the ejection', () => {
    const { fail, ejectedFor } = setup();
    fail('i1', 3);
    fail('i1', 30);
    expect(ejectedFor('i1')).toBe(1000);
  });

  it('never ejects beyond maxEjectionPercent: 3 instances, 2 failing, 50 % → only 1 ejected', () => {
    const { fail, eligible } = setup(3, { maxEjectionPercent: 50 });
    fail('i0', 3);
    fail('i1', 3);
    fail('i1', 3);
    expect(eligible()).toEqual(['i1', 'i2']);
  });

  it('ejects the second failing instance once the first has returned', () => {
    const { fail, eligible, clock } = setup(3, { maxEjectionPercent: 50 });
    fail('i0', 3);
    fail('i1', 3);
    clock.advance(BASE);
    fail('i1', 3);
    expect(eligible()).toEqual(['i0', 'i2']);
  });

  it('counts waypost_ejections_total per service and hands each ejection to the share hook', async () => {
    const { fail, metrics, shared } = setup(4, { maxEjectionPercent: 100 });
    fail('i0', 3);
    fail('i1', 3);
    expect(await metrics.text()).toContain('waypost_ejections_total{service="orders"} 2');
    expect(shared).toEqual([
      { service: 'orders', id: 'i0', durationMs: 1000, ejections: 1, reason: '3 consecutive failures, last: status_5xx' },
      { service: 'orders', id: 'i1', durationMs: 1000, ejections: 1, reason: '3 consecutive failures, last: status_5xx' },
    ]);
  });

  it('applies a shared ejection for a known instance and lets it expire by itself', () => {
    const { detector, eligible, clock } = setup();
    expect(detector.applyShared({ service: 'orders', id: 'i2', durationMs: 1500, ejections: 1 }, 'peer')).toBe(true);
    expect(eligible()).toEqual(['i0', 'i1']);
    clock.advance(1500);
    expect(eligible()).toEqual(['i0', 'i1', 'i2']);
  });

  it('refuses a shared ejection beyond its own maxEjectionPercent, for unknown instances, or shorter than a local one', () => {
    const { detector, fail, ejectedFor } = setup(3, { maxEjectionPercent: 50 });
    fail('i0', 3);
    expect(detector.applyShared({ service: 'orders', id: 'i1', durationMs: 5000, ejections: 1 }, 'peer')).toBe(false);
    expect(detector.applyShared({ service: 'orders', id: 'nope', durationMs: 5000, ejections: 1 }, 'peer')).toBe(false);
    expect(detector.applyShared({ service: 'other', id: 'i0', durationMs: 5000, ejections: 1 }, 'peer')).toBe(false);
    expect(detector.applyShared({ service: 'orders', id: 'i0', durationMs: 500, ejections: 1 }, 'peer')).toBe(false);
    expect(ejectedFor('i0')).toBe(1000);
    // A longer one for the already ejected instance extends it (capped at maxEjection).
    expect(detector.applyShared({ service: 'orders', id: 'i0', durationMs: 60_000, ejections: 5 }, 'peer')).toBe(true);
    expect(ejectedFor('i0')).toBe(MAX);
  });

  it('adopts the peer backoff level so the next local ejection grows from it', () => {
    const { detector, fail, ejectedFor, clock } = setup();
    detector.applyShared({ service: 'orders', id: 'i1', durationMs: 2000, ejections: 2 }, 'peer');
    clock.advance(2000);
    fail('i1', 3);
    expect(ejectedFor('i1')).toBe(4000);
  });

  it('does nothing when consecutiveFailures is 0', () => {
    const { fail, eligible, detector } = setup(3, { consecutiveFailures: 0 });
    expect(detector.enabled).toBe(false);
    fail('i0', 100);
    expect(eligible()).toEqual(['i0', 'i1', 'i2']);
  });
});

describe('OutlierDetector and the pool’s health listeners', () => {
  it('tells them when an ejection ends, so panic can be released without a request', () => {
    const { clock, pool, fail } = setup();
    const heard: string[] = [];
    pool.onHealthChange((service) => heard.push(service));
    fail('i1', 3);
    expect(heard).toEqual(['orders']);
    clock.advance(BASE);
    expect(heard).toEqual(['orders', 'orders']);
  });
});
