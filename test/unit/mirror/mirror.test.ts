import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { silentLogger } from '../../../src/log.js';
import { Metrics } from '../../../src/metrics.js';
import { RegistryMirror } from '../../../src/mirror/mirror.js';
import { MemoryStore } from '../../../src/registry/memory-store.js';
import type { ChangeEvent, FeedHandlers, RegistryStore, ServiceState } from '../../../src/registry/store.js';

const settle = () => new Promise((resolve) => setTimeout(resolve, 5));

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: { feedLength?: number } = {}) {
  const clock = new ManualClock();
  const store = new MemoryStore({ clock, ...options });
  await store.start();
  const metrics = new Metrics({ processMetrics: false });
  const mirror = new RegistryMirror({ store, logger: silentLogger, metrics, clock });
  cleanups.push(() => store.close(), () => mirror.close());
  return { clock, store, metrics, mirror };
}

/** The same store, with each delivered batch passed through `filter` (to model duplicate or lost deliveries). */
function feedFilter(store: RegistryStore, filter: (events: readonly ChangeEvent[]) => (readonly ChangeEvent[])[]): RegistryStore {
  return new Proxy(store, {
    get(target, key) {
      if (key === 'subscribe') {
        return (from: number, handlers: FeedHandlers) =>
          target.subscribe(from, {
            ...handlers,
            onEvents: (events) => {
              for (const batch of filter(events)) if (batch.length > 0) handlers.onEvents(batch);
            },
          });
      }
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

const ids = (state: ServiceState | undefined) => state?.instances.map((r) => r.id);

async function counter(metrics: Metrics, type: string): Promise<number> {
  const metric = await metrics.registryEvents.get();
  return metric.values.find((v) => v.labels.type === type)?.value ?? 0;
}

describe('RegistryMirror', () => {
  it('loads the existing registry on start and reports synced', async () => {
    const { store, mirror } = await setup();
    await store.register({ service: 'orders', id: 'b', host: '10.0.0.2', port: 80 });
    await store.register({ service: 'orders', id: 'a', host: '10.0.0.1', port: 80 });
    expect(mirror.synced).toBe(false);
    await mirror.start();
    expect(mirror.synced).toBe(true);
    expect(mirror.revision).toBe(2);
    expect(ids(mirror.service('orders'))).toEqual(['a', 'b']);
    expect(Object.isFrozen(mirror.service('orders'))).toBe(true);
    expect(Object.isFrozen(mirror.service('orders')!.instances)).toBe(true);
  });

  it('applies register, status and deregister events to only the changed service', async () => {
    const { store, mirror, metrics } = await setup();
    await store.register({ service: 'users', id: 'u1', host: '10.0.0.9', port: 80 });
    await mirror.start();
    const usersBefore = mirror.service('users');

    await store.register({ service: 'orders', id: 'a', host: '10.0.0.1', port: 80 });
    await store.register({ service: 'orders', id: 'b', host: '10.0.0.2', port: 80 });
    await store.setStatus('orders', 'a', 'DRAINING');
    await store.deregister('orders', 'b');
    await settle();

    const orders = mirror.service('orders')!;
    expect(orders.revision).toBe(5);
    expect(orders.instances.map((r) => [r.id, r.status])).toEqual([['a', 'DRAINING']]);
    expect(mirror.service('users')).toBe(usersBefore);
    expect(mirror.revision).toBe(5);
    expect(await counter(metrics, 'register')).toBe(2);
    expect(await counter(metrics, 'status')).toBe(1);
    expect(await counter(metrics, 'deregister')).toBe(1);
  });

  it('never changes a ServiceState a reader already holds', async () => {
    const { store, mirror } = await setup();
    await mirror.start();
    await store.register({ service: 'orders', id: 'a', host: '10.0.0.1', port: 80 });
    await settle();
    const held = mirror.service('orders')!;
    await store.register({ service: 'orders', id: 'b', host: '10.0.0.2', port: 80 });
    await settle();
    expect(ids(held)).toEqual(['a']);
    expect(ids(mirror.service('orders'))).toEqual(['a', 'b']);
  });

  it('keeps an emptied service with its revision so blocking queries see the change', async () => {
    const { store, mirror } = await setup();
    await mirror.start();
    await store.register({ service: 'orders', id: 'a', host: '10.0.0.1', port: 80 });
    await store.deregister('orders', 'a');
    await settle();
    expect(mirror.service('orders')).toEqual({ name: 'orders', revision: 2, instances: [] });
  });

  it('ignores events at or below its revision (a feed that delivers twice)', async () => {
    const { store, metrics } = await setup();
    // The real store, with every batch delivered twice (at-least-once delivery).
    const mirror = new RegistryMirror({ store: feedFilter(store, (events) => [events, events]), logger: silentLogger, metrics });
    cleanups.push(() => mirror.close());
    await mirror.start();
    await store.register({ service: 'orders', id: 'a', host: '10.0.0.1', port: 80 });
    await store.register({ service: 'orders', id: 'b', host: '10.0.0.1', port: 80 });
    await settle();
    expect(ids(mirror.service('orders'))).toEqual(['a', 'b']);
    expect(mirror.revision).toBe(2);
    expect(await counter(metrics, 'register')).toBe(2);
  });

  it('resyncs when it sees a revision gap', async () => {
    const { store, metrics } = await setup();
    // The real store, with revision 2 lost on the way.
    const mirror = new RegistryMirror({
      store: feedFilter(store, (events) => [events.filter((e) => e.revision !== 2)]),
      logger: silentLogger,
      metrics,
    });
    cleanups.push(() => mirror.close());
    await mirror.start();
    await store.register({ service: 'orders', id: 'a', host: '10.0.0.1', port: 80 });
    await settle();
    await store.register({ service: 'orders', id: 'b', host: '10.0.0.1', port: 80 });
    await settle();
    await store.register({ service: 'orders', id: 'c', host: '10.0.0.1', port: 80 });
    await settle();
    expect(await counter(metrics, 'resync')).toBe(1);
    expect(ids(mirror.service('orders'))).toEqual(['a', 'b', 'c']);
    expect(mirror.revision).toBe(3);
  });

  it('resyncs into a new map when the feed was trimmed, and tells listeners what changed', async () => {
    const { store, mirror, metrics } = await setup({ feedLength: 100 });
    await store.register({ service: 'users', id: 'u1', host: '10.0.0.9', port: 80 });
    await store.register({ service: 'gone', id: 'g1', host: '10.0.0.8', port: 80 });
    await mirror.start();
    const usersBefore = mirror.service('users');
    const changes: [string, number | undefined][] = [];
    mirror.onChange((service, state) => changes.push([service, state?.instances.length]));

    // 151 changes within one tick overflow the 100-entry feed before it is delivered: a trimmed-feed reset.
    const writes = [];
    for (let i = 0; i < 150; i += 1) writes.push(store.register({ service: 'orders', id: `o${i}`, host: '10.0.0.1', port: 80 }));
    writes.push(store.deregister('gone', 'g1'));
    await Promise.all(writes);
    await settle();

    expect(await counter(metrics, 'resync')).toBe(1);
    expect(mirror.revision).toBe(153);
    expect(mirror.service('orders')!.instances).toHaveLength(150);
    expect(mirror.service('gone')).toBeUndefined();
    expect(mirror.service('users')).toEqual(usersBefore);
    expect(changes).toEqual([
      ['orders', 150],
      ['gone', undefined],
    ]);
  });

  it('calls onChange listeners once per changed service per batch', async () => {
    const { store, mirror } = await setup();
    await mirror.start();
    const seen: string[] = [];
    const off = mirror.onChange((service, state) => seen.push(`${service}@${state?.revision}`));
    await Promise.all([
      store.register({ service: 'orders', id: 'a', host: '10.0.0.1', port: 80 }),
      store.register({ service: 'orders', id: 'b', host: '10.0.0.1', port: 80 }),
      store.register({ service: 'users', id: 'c', host: '10.0.0.1', port: 80 }),
    ]);
    await settle();
    off();
    await store.register({ service: 'users', id: 'd', host: '10.0.0.1', port: 80 });
    await settle();
    expect(seen).toEqual(['orders@2', 'users@3']);
  });

  it('observes propagation time from the event time on its clock', async () => {
    const { store, mirror, metrics } = await setup();
    await mirror.start();
    await store.register({ service: 'orders', id: 'a', host: '10.0.0.1', port: 80 });
    await settle();
    const histogram = await metrics.registryPropagation.get();
    expect(histogram.values.find((v) => v.metricName === 'waypost_registry_propagation_seconds_count')?.value).toBe(1);
    expect(histogram.values.find((v) => v.metricName === 'waypost_registry_propagation_seconds_sum')?.value).toBe(0);
  });

  it('answers waitForChange at once when the service is already newer', async () => {
    const { store, mirror } = await setup();
    await store.register({ service: 'orders', id: 'a', host: '10.0.0.1', port: 80 });
    await mirror.start();
    const state = await mirror.waitForChange('orders', 0, 60_000);
    expect(ids(state)).toEqual(['a']);
  });

  it('parks waitForChange until the service changes', async () => {
    const { store, mirror } = await setup();
    await mirror.start();
    const waiting = mirror.waitForChange('orders', 0, 60_000);
    await store.register({ service: 'users', id: 'u', host: '10.0.0.1', port: 80 });
    await store.register({ service: 'orders', id: 'a', host: '10.0.0.1', port: 80 });
    const state = await waiting;
    expect(state.revision).toBe(2);
    expect(ids(state)).toEqual(['a']);
  });

  it('answers waitForChange with the unchanged state when the timeout passes', async () => {
    const { clock, store, mirror } = await setup();
    await store.register({ service: 'orders', id: 'a', host: '10.0.0.1', port: 80 });
    await mirror.start();
    const waiting = mirror.waitForChange('orders', 1, 30_000);
    const unknown = mirror.waitForChange('nobody', 0, 30_000);
    clock.advance(30_000);
    expect((await waiting).revision).toBe(1);
    expect(await unknown).toEqual({ name: 'nobody', revision: 0, instances: [] });
  });

  it('answers waitForChange when its signal aborts or the mirror closes', async () => {
    const { mirror } = await setup();
    await mirror.start();
    const controller = new AbortController();
    const aborted = mirror.waitForChange('orders', 0, 60_000, controller.signal);
    controller.abort();
    expect((await aborted).revision).toBe(0);
    const parked = mirror.waitForChange('orders', 0, 60_000);
    mirror.close();
    expect((await parked).revision).toBe(0);
  });

  it('resolves waitForRevision once the revision is applied, or false at the timeout', async () => {
    const { clock, store, mirror } = await setup();
    await mirror.start();
    const reached = mirror.waitForRevision(1, 1000);
    const never = mirror.waitForRevision(5, 1000);
    await store.register({ service: 'orders', id: 'a', host: '10.0.0.1', port: 80 });
    expect(await reached).toBe(true);
    clock.advance(1000);
    expect(await never).toBe(false);
  });

  it('sets the connected gauge from the feed', async () => {
    const { mirror, metrics } = await setup();
    await mirror.start();
    await settle();
    expect(mirror.connected).toBe(true);
    expect((await metrics.registryConnected.get()).values[0]!.value).toBe(1);
  });
});

describe('RegistryMirror API routes', () => {
  it('loads routes on start, applies route events once per batch without touching services, and reloads them on resync', async () => {
    const { store, mirror, metrics } = await setup({ feedLength: 2 });
    await store.putRoute('a', { service: 'orders', path: '/a' });
    await store.register({ service: 'orders', id: 'o1', host: '10.0.0.1', port: 80 });
    await mirror.start();
    expect([...mirror.routes().keys()]).toEqual(['a']);
    const notified: string[][] = [];
    mirror.onRoutesChange(() => notified.push([...mirror.routes().keys()].sort()));
    const before = mirror.routes();

    await store.putRoute('b', { service: 'orders', path: '/b' });
    await store.deleteRoute('a');
    await settle();
    expect(notified).toEqual([['a', 'b'], ['b']]);
    expect(before.has('a')).toBe(true); // the old map is never changed: readers keep a consistent one
    expect(mirror.revision).toBe(4);
    expect([...mirror.services()].map((s) => s.name)).toEqual(['orders']);
    expect(await counter(metrics, 'route-set')).toBe(1);

    // Writes beyond the feed's length force a resync: routes come back from state().
    mirror.close();
    const resyncMetrics = new Metrics({ processMetrics: false });
    const resynced = new RegistryMirror({ store, logger: silentLogger, metrics: resyncMetrics });
    cleanups.push(() => resynced.close());
    await resynced.start();
    // Written within one tick, so the 2-entry feed is trimmed before it is delivered.
    await Promise.all(['c', 'd', 'e', 'f'].map((id) => store.putRoute(id, { service: 'orders', path: `/${id}` })));
    await settle();
    expect(await counter(resyncMetrics, 'resync')).toBe(1);
    expect([...resynced.routes().keys()].sort()).toEqual(['b', 'c', 'd', 'e', 'f']);
  });
});
