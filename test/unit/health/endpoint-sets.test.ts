import { describe, expect, it } from 'vitest';
import { EndpointSets, type EndpointSetsOptions } from '../../../src/health/endpoint-sets.js';
import { createRoundRobin } from '../../../src/balancer/round-robin.js';
import { ManualClock } from '../../../src/clock.js';
import { EndpointPool } from '../../../src/health/state.js';
import type { InstanceRecord } from '../../../src/types.js';
import { idOf, pickContext, record, serviceState, shares } from '../../helpers/endpoints.js';

function setup(options: Partial<EndpointSetsOptions> = {}) {
  const clock = new ManualClock();
  const pool = new EndpointPool(clock);
  const panics: [string, boolean][] = [];
  const sets = new EndpointSets({
    pool,
    clock,
    panicThreshold: 0.5,
    onPanicChange: (service, panic) => panics.push([service, panic]),
    ...options,
  });
  return { clock, pool, sets, panics };
}

function ids(n: number, fields: Partial<InstanceRecord> = {}): InstanceRecord[] {
  return Array.from({ length: n }, (_, i) => record('orders', `i${i}`, { port: 9000 + i, ...fields }));
}

const idsOf = (set: { endpoints: readonly { instance: InstanceRecord }[] }) => set.endpoints.map((e) => e.instance.id);

describe('EndpointSets', () => {
  it('returns the cached set while state, health epoch and deadlines are unchanged', () => {
    const { sets } = setup();
    const state = serviceState('orders', ids(3));
    const first = sets.forService(state);
    expect(sets.forService(state)).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first.endpoints)).toBe(true);
  });

  it('rebuilds when the mirror hands out a new state object', () => {
    const { sets } = setup();
    const first = sets.forService(serviceState('orders', ids(3)));
    const second = sets.forService(serviceState('orders', ids(2), 2));
    expect(second).not.toBe(first);
    expect(idsOf(second)).toEqual(['i0', 'i1']);
  });

  it('keeps the same stats objects across rebuilds', () => {
    const { sets } = setup();
    const first = sets.forService(serviceState('orders', ids(2)));
    first.endpoints[0]!.stats.inflight = 3;
    const second = sets.forService(serviceState('orders', ids(2), 2));
    expect(second.endpoints[0]!.stats).toBe(first.endpoints[0]!.stats);
    expect(second.endpoints[0]!.stats.inflight).toBe(3);
  });

  it('leaves out DRAINING, OUT_OF_SERVICE, weight-0, ejected and actively unhealthy instances', () => {
    const { sets, pool, clock } = setup({ panicThreshold: 0 });
    const state = serviceState('orders', [
      record('orders', 'up'),
      record('orders', 'draining', { status: 'DRAINING' }),
      record('orders', 'oos', { status: 'OUT_OF_SERVICE' }),
      record('orders', 'zero', { weight: 0 }),
      record('orders', 'ejected'),
      record('orders', 'failing'),
    ]);
    pool.eject('orders', 'ejected', clock.now() + 10_000);
    pool.setActiveHealthy('orders', 'failing', false);
    expect(idsOf(sets.forService(state))).toEqual(['up']);
  });

  it('rebuilds when a health change bumps the epoch and when an ejection ends', () => {
    const { sets, pool, clock } = setup({ panicThreshold: 0 });
    const state = serviceState('orders', ids(3));
    expect(sets.forService(state).endpoints).toHaveLength(3);
    pool.eject('orders', 'i1', clock.now() + 10_000);
    expect(idsOf(sets.forService(state))).toEqual(['i0', 'i2']);
    clock.advance(9_999);
    expect(idsOf(sets.forService(state))).toEqual(['i0', 'i2']);
    clock.advance(1);
    expect(idsOf(sets.forService(state))).toEqual(['i0', 'i1', 'i2']);
  });

  it('formats addresses as host:port with IPv6 hosts bracketed', () => {
    const { sets } = setup();
    const set = sets.forService(
      serviceState('orders', [record('orders', 'a', { host: '::1', port: 80 }), record('orders', 'b', { host: '127.0.0.1', port: 81 })]),
    );
    expect(set.endpoints.map((e) => [e.key, e.address])).toEqual([
      ['orders/a', '[::1]:80'],
      ['orders/b', '127.0.0.1:81'],
    ]);
  });

  it('enters panic below the threshold and then uses every UP instance', () => {
    const { sets, pool, clock, panics } = setup({ panicThreshold: 0.5 });
    const state = serviceState('orders', [...ids(4), record('orders', 'drain', { status: 'DRAINING' })]);
    pool.eject('orders', 'i0', clock.now() + 60_000);
    pool.eject('orders', 'i1', clock.now() + 60_000);
    // 2 of 4 UP instances eligible: 50 % is not below the threshold.
    let set = sets.forService(state);
    expect(set.panic).toBe(false);
    expect(idsOf(set)).toEqual(['i2', 'i3']);
    pool.setActiveHealthy('orders', 'i2', false);
    set = sets.forService(state);
    expect(set.panic).toBe(true);
    expect(idsOf(set)).toEqual(['i0', 'i1', 'i2', 'i3']);
    expect(sets.panicking.has('orders')).toBe(true);
    pool.setActiveHealthy('orders', 'i2', true);
    expect(sets.forService(state).panic).toBe(false);
    expect(panics).toEqual([
      ['orders', true],
      ['orders', false],
    ]);
  });

  it('returns an empty set when nothing is eligible and panic is disabled', () => {
    const { sets, pool, panics } = setup({ panicThreshold: 0 });
    const state = serviceState('orders', ids(2));
    pool.setActiveHealthy('orders', 'i0', false);
    pool.setActiveHealthy('orders', 'i1', false);
    const set = sets.forService(state);
    expect(set.endpoints).toEqual([]);
    expect(set.totalWeight).toBe(0);
    expect(set.panic).toBe(false);
    expect(panics).toEqual([]);
  });

  it('returns an empty set for a service without instances', () => {
    const { sets } = setup();
    expect(sets.forService(serviceState('orders', [])).endpoints).toEqual([]);
  });

  it('ramps a new instance up over slowStart so its share rises over time', () => {
    const { sets, clock } = setup({ slowStartMs: 100_000 });
    sets.forService(serviceState('orders', ids(1)));
    const state = serviceState('orders', [...ids(1), record('orders', 'new', { port: 9999 })], 2);
    const weightOfNew = () => sets.forService(state).endpoints.find((e) => e.instance.id === 'new')!.weight;
    const observed: number[] = [weightOfNew()];
    for (let step = 0; step < 11; step++) {
      clock.advance(10_000);
      observed.push(weightOfNew());
    }
    expect(observed[0]).toBe(10); // 0.1 × 100 at first
    for (let i = 1; i < observed.length; i++) expect(observed[i]).toBeGreaterThanOrEqual(observed[i - 1]!);
    expect(observed[5]).toBe(50);
    expect(observed.at(-1)).toBe(100);
    // The old instance was there from the first build and never ramps.
    expect(sets.forService(state).endpoints[0]!.weight).toBe(100);
  });

  it('shifts traffic share towards a slow-starting instance as it ramps', () => {
    const { sets, clock } = setup({ slowStartMs: 10_000 });
    sets.forService(serviceState('orders', ids(1)));
    const state = serviceState('orders', [...ids(1), record('orders', 'new', { port: 9999 })], 2);
    const rr = createRoundRobin();
    const shareOfNew = () => shares(() => rr.pick(sets.forService(state), pickContext()), 1000).new ?? 0;
    const early = shareOfNew();
    clock.advance(5_000);
    const middle = shareOfNew();
    clock.advance(5_000);
    const done = shareOfNew();
    expect(early).toBeLessThan(0.1);
    expect(middle).toBeGreaterThan(early);
    expect(done).toBeCloseTo(0.5, 2);
  });

  it('slow-starts an endpoint returning from ejection', () => {
    const { sets, pool, clock } = setup({ slowStartMs: 10_000, panicThreshold: 0 });
    const state = serviceState('orders', ids(2));
    sets.forService(state);
    pool.eject('orders', 'i1', clock.now() + 1000);
    clock.advance(1000);
    expect(sets.forService(state).endpoints.map((e) => e.weight)).toEqual([100, 10]);
  });

  describe('zone preference', () => {
    const zoned = () =>
      serviceState('orders', [
        record('orders', 'a1', { zone: 'a', port: 1 }),
        record('orders', 'a2', { zone: 'a', port: 2 }),
        record('orders', 'b1', { zone: 'b', port: 3 }),
        record('orders', 'b2', { zone: 'b', port: 4 }),
      ]);

    it('picks only same-zone endpoints while the zone is healthy', () => {
      const { sets } = setup({ zone: 'a' });
      const state = zoned();
      const rr = createRoundRobin();
      const picks = new Set(Array.from({ length: 20 }, () => idOf(rr.pick(sets.forService(state), pickContext()))));
      expect([...picks].sort()).toEqual(['a1', 'a2']);
    });

    it('spills over to every zone when the zone falls below the threshold', () => {
      const { sets, pool, clock } = setup({ zone: 'a', panicThreshold: 0.6 });
      const state = zoned();
      pool.eject('orders', 'a1', clock.now() + 60_000);
      expect(idsOf(sets.forService(state))).toEqual(['a2', 'b1', 'b2']);
    });

    it('spills over when no same-zone endpoint is eligible', () => {
      const { sets, pool } = setup({ zone: 'a', panicThreshold: 0 });
      const state = zoned();
      pool.setActiveHealthy('orders', 'a1', false);
      pool.setActiveHealthy('orders', 'a2', false);
      expect(idsOf(sets.forService(state))).toEqual(['b1', 'b2']);
    });

    it('has no preference when the proxy has no zone', () => {
      const { sets } = setup({ zone: '' });
      expect(idsOf(sets.forService(zoned()))).toEqual(['a1', 'a2', 'b1', 'b2']);
    });
  });
});

describe('EndpointSets panic without traffic', () => {
  it('re-evaluates panic on request of a registry or health change, once per tick, without building a set', async () => {
    const state = serviceState('orders', ids(4));
    const { pool, sets, panics } = setup({ services: { service: (name) => (name === 'orders' ? state : undefined) } });
    for (const id of ['i0', 'i1', 'i2']) {
      pool.setActiveHealthy('orders', id, false);
      sets.checkPanicSoon('orders');
    }
    await Promise.resolve();
    expect(panics).toEqual([['orders', true]]);
    for (const id of ['i0', 'i1', 'i2']) pool.setActiveHealthy('orders', id, true);
    sets.checkPanicSoon('orders');
    await Promise.resolve();
    expect(panics).toEqual([
      ['orders', true],
      ['orders', false],
    ]);
  });
});
