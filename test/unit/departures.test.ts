import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { RegistryDepartures, type Departed } from '../../src/departures.js';
import { record, serviceState } from '../helpers/endpoints.js';

const GRACE = 1_000;

function setup() {
  const clock = new ManualClock();
  const batches: { services: string[]; addresses: string[] }[] = [];
  const departures = new RegistryDepartures({
    graceMs: GRACE,
    clock,
    onDeparted: ({ services, addresses }: Departed) => batches.push({ services: [...services], addresses: [...addresses] }),
  });
  return { clock, batches, departures };
}

const at = (service: string, ...ports: number[]) =>
  serviceState(service, ports.map((port, i) => record(service, `${service}-${i}`, { host: '10.0.0.1', port })));

describe('RegistryDepartures', () => {
  it('hands over a service whose last instance left, with its address, once the grace has passed', () => {
    const { clock, batches, departures } = setup();
    departures.update('orders', at('orders', 8080));
    departures.update('orders', at('orders'));
    expect(departures.isDeparting('orders')).toBe(true);
    clock.advance(GRACE - 1);
    expect(batches).toEqual([]);
    clock.advance(1);
    expect(batches).toEqual([{ services: ['orders'], addresses: ['10.0.0.1:8080'] }]);
    expect(departures.isDeparting('orders')).toBe(false);
    expect(departures.pending).toEqual({ services: 0, addresses: 0 });
  });

  it('forgets a departure when the service or address comes back within the grace', () => {
    const { clock, batches, departures } = setup();
    departures.update('orders', at('orders', 8080));
    departures.update('orders', undefined);
    clock.advance(GRACE / 2);
    departures.update('orders', at('orders', 8080));
    clock.advance(GRACE * 2);
    expect(batches).toEqual([]);
  });

  it('hands over an address only when no service uses it any more', () => {
    const { clock, batches, departures } = setup();
    departures.update('orders', at('orders', 8080, 8081));
    departures.update('users', at('users', 8080));
    departures.update('orders', at('orders', 8081)); // 8080 still used by users
    clock.advance(GRACE);
    expect(batches).toEqual([]);
    departures.update('users', at('users'));
    clock.advance(GRACE);
    expect(batches).toEqual([{ services: ['users'], addresses: ['10.0.0.1:8080'] }]);
  });

  it('releases departures in batches by the time they left', () => {
    const { clock, batches, departures } = setup();
    for (const name of ['a', 'b']) departures.update(name, at(name, 1));
    departures.update('c', at('c', 2));
    departures.update('a', undefined);
    departures.update('b', undefined);
    clock.advance(GRACE / 2);
    departures.update('c', undefined);
    clock.advance(GRACE / 2);
    expect(batches).toEqual([{ services: ['a', 'b'], addresses: ['10.0.0.1:1'] }]);
    clock.advance(GRACE / 2);
    expect(batches.at(-1)).toEqual({ services: ['c'], addresses: ['10.0.0.1:2'] });
  });

  it('hands over nothing after close', () => {
    const { clock, batches, departures } = setup();
    departures.update('orders', at('orders', 8080));
    departures.update('orders', undefined);
    departures.close();
    clock.advance(GRACE * 2);
    expect(batches).toEqual([]);
  });
});
