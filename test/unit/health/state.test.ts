import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { EndpointPool } from '../../../src/health/state.js';

describe('EndpointPool', () => {
  it('hands out one stats object per service/id', () => {
    const pool = new EndpointPool(new ManualClock());
    const stats = pool.stats('orders', 'a');
    stats.inflight += 2;
    expect(pool.stats('orders', 'a')).toBe(stats);
    expect(pool.stats('orders', 'a').inflight).toBe(2);
    expect(pool.stats('users', 'a')).not.toBe(stats);
  });

  it('bumps the service epoch on every health change and only then', () => {
    const clock = new ManualClock();
    const pool = new EndpointPool(clock);
    expect(pool.epoch('orders')).toBe(0);
    pool.eject('orders', 'a', clock.now() + 5000);
    expect(pool.epoch('orders')).toBe(1);
    pool.setActiveHealthy('orders', 'a', false);
    pool.setActiveHealthy('orders', 'a', false);
    expect(pool.epoch('orders')).toBe(2);
    pool.clearEjection('orders', 'a');
    expect(pool.epoch('orders')).toBe(3);
    pool.stats('orders', 'a').inflight += 1;
    expect(pool.epoch('orders')).toBe(3);
    expect(pool.epoch('users')).toBe(0);
  });

  it('restarts slow start when an endpoint returns from ejection or a failed active check', () => {
    const clock = new ManualClock();
    const pool = new EndpointPool(clock);
    const until = clock.now() + 30_000;
    pool.eject('orders', 'a', until);
    expect(pool.stats('orders', 'a').readyAt).toBe(until);
    pool.setActiveHealthy('orders', 'b', false);
    clock.advance(1000);
    pool.setActiveHealthy('orders', 'b', true);
    expect(pool.stats('orders', 'b').readyAt).toBe(clock.now());
  });

  it('drops the stats of removed instances once nothing is in flight to them', () => {
    const pool = new EndpointPool(new ManualClock());
    pool.stats('orders', 'a');
    pool.stats('orders', 'b').inflight = 1;
    pool.retain('orders', []);
    expect(pool.peek('orders', 'a')).toBeUndefined();
    expect(pool.peek('orders', 'b')).toBeDefined();
    pool.peek('orders', 'b')!.inflight = 0; // the forwarder finished through endpoint.stats
    pool.sweep();
    expect(pool.peek('orders', 'b')).toBeUndefined();
    expect(pool.size).toBe(0);
  });

  it('keeps the stats of an instance that is registered again before its work ends', () => {
    const pool = new EndpointPool(new ManualClock());
    const stats = pool.stats('orders', 'a');
    stats.inflight = 1;
    pool.retain('orders', []);
    pool.retain('orders', ['a']);
    stats.inflight = 0;
    pool.sweep();
    expect(pool.peek('orders', 'a')).toBe(stats);
  });
});

describe('EndpointPool entries follow the registry', () => {
  it('forgets a service entirely once none of its stats are held', () => {
    const pool = new EndpointPool(new ManualClock());
    pool.stats('orders', 'a');
    pool.stats('orders', 'b').inflight = 1;
    pool.retain('orders', []);
    expect(pool.serviceCount).toBe(1); // b is still busy
    pool.peek('orders', 'b')!.inflight = 0;
    pool.sweep();
    expect(pool.serviceCount).toBe(0);
    expect(pool.epoch('orders')).toBe(0);
  });

  it('tells health listeners of every epoch change, including the end of an ejection', () => {
    const clock = new ManualClock();
    const pool = new EndpointPool(clock);
    const heard: string[] = [];
    pool.onHealthChange((service) => heard.push(service));
    pool.eject('orders', 'a', clock.now() + 1_000);
    pool.setActiveHealthy('users', 'b', false);
    clock.advance(1_000);
    pool.ejectionEnded('orders', 'a');
    pool.ejectionEnded('orders', 'unknown');
    expect(heard).toEqual(['orders', 'users', 'orders']);
  });
});

describe('EndpointPool and late verdicts', () => {
  it('does not keep a removed instance alive when an ejection or active verdict arrives while it is busy', () => {
    const clock = new ManualClock();
    const pool = new EndpointPool(clock);
    pool.stats('orders', 'a').inflight = 1;
    pool.retain('orders', []);
    pool.eject('orders', 'a', clock.now() + 1_000); // its last in-flight request failed
    pool.setActiveHealthy('orders', 'a', false);
    pool.peek('orders', 'a')!.inflight = 0;
    pool.sweep();
    expect(pool.peek('orders', 'a')).toBeUndefined();
    expect(pool.serviceCount).toBe(0);
  });
});
