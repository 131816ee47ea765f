/**
 * The RegistryStore contract: every store runs these same cases (memory-store.test.ts,
 * redis-store.test.ts, ipc-store.test.ts). A store that needs real time (Redis judges
 * leases by its own TIME) omits `advance`, and the cases sleep. A read-only store (a
 * cluster worker's, reading through the primary) says so in its capabilities: the cases
 * then write through `harness.writer` and read, subscribe and check through the store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { isWaypostError } from '../../src/errors.js';
import type { StoreOptions } from '../../src/registry/lease.js';
import type { ChangeEvent, FeedSubscription, RegistryStore } from '../../src/registry/store.js';
import type { RegistrationInput } from '../../src/types.js';
import { sleep, waitFor, readUntil } from '../helpers/wait.js';
import { routeContractCases } from './store-routes.contract.js';

export interface StoreHarness {
  /** The store under test. */
  store: RegistryStore;
  /** Read-only stores only: the store the cases write to, which `store` reads from. */
  writer?: RegistryStore;
  /** Resolves once reads of `store` show every write `writer` acknowledged; absent = at once. */
  settle?(): Promise<void>;
  /** Move the registry clock forward; absent = the store runs on real time. */
  advance?(ms: number): void | Promise<void>;
  cleanup(): Promise<void>;
}

export type StoreFactory = (options?: StoreOptions) => Promise<StoreHarness>;

/** What a store can do, when it cannot do all of it. Every flag changes cases openly, never skips one. */
export interface StoreCapabilities {
  /**
   * The store refuses writes (`forbidden`) and does not sweep: the cases write and sweep
   * through `harness.writer`, and one more case checks the refusals. @default false
   */
  readOnly?: boolean;
}

/** Collects a subscription's events and resets. */
export class FeedRecorder {
  readonly events: ChangeEvent[] = [];
  readonly resets: string[] = [];
  readonly connection: boolean[] = [];
  readonly subscription: FeedSubscription;

  constructor(store: RegistryStore, fromRevision: number) {
    this.subscription = store.subscribe(fromRevision, {
      onEvents: (events) => void this.events.push(...events),
      onReset: (reason) => void this.resets.push(reason),
      onConnectionChange: (connected) => void this.connection.push(connected),
    });
  }

  summary(): string[] {
    return this.events.map((e) => `${e.type} ${e.service}/${e.id}`);
  }

  async waitForCount(count: number, timeoutMs = 5000): Promise<ChangeEvent[]> {
    await readUntil(`${count} feed events`, () => this.summary(), (seen) => seen.length >= count, { timeoutMs });
    return this.events;
  }
}

const instance = (service: string, id: string, extra: Partial<RegistrationInput> = {}): RegistrationInput => ({
  service,
  id,
  host: '10.0.0.5',
  port: 8080,
  ...extra,
});

/** Quiet period long enough for a late duplicate event to show up. */
const SETTLE_MS = 150;
/** No periodic sweep interferes with cases that sweep by hand. */
const MANUAL_SWEEP: StoreOptions = { sweepIntervalMs: 3_600_000 };

/**
 * What the cases of a read-only store use: writes and sweeps go to the harness's writer;
 * reads (once settled) and the feed come from the store under test.
 */
function readingThrough(harness: StoreHarness): RegistryStore {
  const { store, writer, settle } = harness;
  if (!writer) throw new Error('a readOnly store harness must give the writer it reads from');
  const settled = async (): Promise<RegistryStore> => {
    await settle?.();
    return store;
  };
  return {
    kind: store.kind,
    get connected() {
      return store.connected;
    },
    start: () => store.start(),
    close: () => store.close(),
    register: (input) => writer.register(input),
    renew: (service, id, options) => writer.renew(service, id, options),
    setStatus: (service, id, status) => writer.setStatus(service, id, status),
    deregister: (service, id) => writer.deregister(service, id),
    sweep: () => writer.sweep(),
    listServices: async () => (await settled()).listServices(),
    getService: async (service) => (await settled()).getService(service),
    state: async () => (await settled()).state(),
    putRoute: (id, route) => writer.putRoute(id, route),
    deleteRoute: (id) => writer.deleteRoute(id),
    getRoute: async (id) => (await settled()).getRoute(id),
    listRoutes: async () => (await settled()).listRoutes(),
    subscribe: (fromRevision, handlers) => store.subscribe(fromRevision, handlers),
  };
}

export function storeContract(name: string, makeStore: StoreFactory, capabilities: StoreCapabilities = {}): void {
  describe(`${name} store contract`, () => {
    const harnesses: StoreHarness[] = [];
    const recorders: FeedRecorder[] = [];

    const open = async (options?: StoreOptions): Promise<StoreHarness> => {
      const harness = await makeStore(options);
      harnesses.push(harness);
      return capabilities.readOnly ? { ...harness, store: readingThrough(harness) } : harness;
    };
    const record = (store: RegistryStore, fromRevision = 0): FeedRecorder => {
      const recorder = new FeedRecorder(store, fromRevision);
      recorders.push(recorder);
      return recorder;
    };
    const elapse = async (harness: StoreHarness, ms: number): Promise<void> => {
      if (harness.advance) await harness.advance(ms);
      else await sleep(ms);
    };

    afterEach(async () => {
      for (const recorder of recorders.splice(0)) recorder.subscription.close();
      for (const harness of harnesses.splice(0)) await harness.cleanup();
    });

    routeContractCases({ open, record, elapse, readOnly: capabilities.readOnly === true, makeStore, harnesses });

    it('registers a new instance with defaults and emits one register event', async () => {
      const { store } = await open();
      const feed = record(store);
      const { record: stored, created } = await store.register(instance('orders', 'orders-1'));
      expect(created).toBe(true);
      expect(stored).toMatchObject({
        id: 'orders-1', service: 'orders', host: '10.0.0.5', port: 8080, weight: 100, zone: '', tags: [],
        metadata: {}, status: 'UP', protocol: 'http1', ttl: 30,
      });
      expect(Object.isFrozen(stored)).toBe(true);
      expect(Date.parse(stored.leaseExpiresAt) - Date.parse(stored.registeredAt)).toBe(30_000);
      const [event] = await feed.waitForCount(1);
      expect(event).toMatchObject({ revision: 1, type: 'register', service: 'orders', id: 'orders-1', instance: stored });
      expect(event!.at).toBe(Date.parse(stored.registeredAt));
    });

    it('updates an instance registered again with the same id and keeps its registeredAt', async () => {
      const harness = await open();
      const { store } = harness;
      const feed = record(store);
      const first = await store.register(instance('orders', 'orders-1', { weight: 10 }));
      await elapse(harness, 1100);
      const second = await store.register(instance('orders', 'orders-1', { weight: 20, tags: ['v2'], metadata: { a: '1' } }));
      expect(second.created).toBe(false);
      expect(second.record.registeredAt).toBe(first.record.registeredAt);
      expect(Date.parse(second.record.leaseExpiresAt)).toBeGreaterThan(Date.parse(first.record.leaseExpiresAt));
      expect(second.record).toMatchObject({ weight: 20, tags: ['v2'], metadata: { a: '1' } });
      await store.register(instance('orders', 'orders-1', { weight: 20, tags: ['v2'], metadata: { a: '1' } }));
      await feed.waitForCount(2);
      await sleep(SETTLE_MS);
      expect(feed.summary()).toEqual(['register orders/orders-1', 'update orders/orders-1']);
      expect(feed.events[1]!.instance).toEqual(second.record);
    });

    it('stores the protocol an instance speaks, and a changed protocol is an update event', async () => {
      const { store } = await open();
      const feed = record(store);
      const { record: h2c } = await store.register(instance('grpc', 'grpc-1', { protocol: 'h2c' }));
      expect(h2c.protocol).toBe('h2c');
      const { record: h2 } = await store.register(instance('grpc', 'grpc-1', { protocol: 'h2' }));
      expect(h2.protocol).toBe('h2');
      await feed.waitForCount(2);
      expect(feed.summary()).toEqual(['register grpc/grpc-1', 'update grpc/grpc-1']);
      const state = await store.state();
      expect(state.services.find((s) => s.name === 'grpc')?.instances[0]?.protocol).toBe('h2');
    });

    it('generates an id of the service name and 8 hex digits when none is given', async () => {
      const { store } = await open();
      const a = await store.register({ service: 'orders', host: '10.0.0.5', port: 8080 });
      const b = await store.register({ service: 'orders', host: '10.0.0.6', port: 8080 });
      expect(a.record.id).toMatch(/^orders-[0-9a-f]{8}$/);
      expect(b.record.id).not.toBe(a.record.id);
    });

    it('renews a lease to now plus ttl and emits nothing', async () => {
      const harness = await open();
      const { store } = harness;
      const { record: stored } = await store.register(instance('orders', 'orders-1', { ttl: 5 }));
      const feed = record(store, 1);
      await elapse(harness, 1100);
      const renewed = await store.renew('orders', 'orders-1');
      expect(renewed).toBeDefined();
      expect(Date.parse(renewed!.leaseExpiresAt)).toBeGreaterThanOrEqual(Date.parse(stored.leaseExpiresAt) + 1000);
      expect({ ...renewed, leaseExpiresAt: '' }).toEqual({ ...stored, leaseExpiresAt: '' });
      await sleep(SETTLE_MS);
      expect(feed.events).toEqual([]);
    });

    it('emits an update when a renewal carries a different weight', async () => {
      const { store } = await open();
      await store.register(instance('orders', 'orders-1'));
      const feed = record(store, 1);
      await store.renew('orders', 'orders-1', { weight: 100 });
      const renewed = await store.renew('orders', 'orders-1', { weight: 40 });
      expect(renewed?.weight).toBe(40);
      await feed.waitForCount(1);
      await sleep(SETTLE_MS);
      expect(feed.summary()).toEqual(['update orders/orders-1']);
      expect(feed.events[0]!.instance?.weight).toBe(40);
      expect((await store.getService('orders')).instances[0]?.weight).toBe(40);
    });

    it('returns undefined when renewing an unknown instance', async () => {
      const { store } = await open();
      expect(await store.renew('orders', 'nope')).toBeUndefined();
      await store.register(instance('orders', 'orders-1'));
      expect(await store.renew('orders', 'nope')).toBeUndefined();
      expect(await store.renew('billing', 'orders-1')).toBeUndefined();
    });

    it('emits a status event once and none for the same status again', async () => {
      const { store } = await open();
      await store.register(instance('orders', 'orders-1'));
      const feed = record(store, 1);
      const drained = await store.setStatus('orders', 'orders-1', 'DRAINING');
      expect(drained?.status).toBe('DRAINING');
      expect((await store.setStatus('orders', 'orders-1', 'DRAINING'))?.status).toBe('DRAINING');
      expect(await store.setStatus('orders', 'nope', 'UP')).toBeUndefined();
      await feed.waitForCount(1);
      await sleep(SETTLE_MS);
      expect(feed.summary()).toEqual(['status orders/orders-1']);
      expect(feed.events[0]!.instance?.status).toBe('DRAINING');
    });

    it('emits deregister for a known instance and returns false for an unknown one', async () => {
      const { store } = await open();
      await store.register(instance('orders', 'orders-1'));
      const feed = record(store, 1);
      expect(await store.deregister('orders', 'orders-1')).toBe(true);
      expect(await store.deregister('orders', 'orders-1')).toBe(false);
      expect(await store.deregister('billing', 'x')).toBe(false);
      const [event] = await feed.waitForCount(1);
      expect(event).toMatchObject({ revision: 2, type: 'deregister', service: 'orders', id: 'orders-1' });
      expect(event!.instance).toBeUndefined();
      expect(await store.listServices()).toEqual([]);
    });

    it('lists services sorted by name and a service with its instances sorted by id', async () => {
      const { store } = await open();
      await store.register(instance('orders', 'o-b'));
      await store.register(instance('billing', 'b-1'));
      await store.register(instance('orders', 'o-a'));
      expect(await store.listServices()).toEqual([
        { name: 'billing', instances: 1 },
        { name: 'orders', instances: 2 },
      ]);
      const orders = await store.getService('orders');
      expect(orders.name).toBe('orders');
      expect(orders.instances.map((i) => i.id)).toEqual(['o-a', 'o-b']);
      expect(await store.getService('unknown')).toEqual({ name: 'unknown', revision: 0, instances: [] });
    });

    it('tracks the revision of the last change to each service', async () => {
      const { store } = await open();
      await store.register(instance('orders', 'o-1')); // 1
      await store.register(instance('billing', 'b-1')); // 2
      await store.setStatus('orders', 'o-1', 'DRAINING'); // 3
      await store.renew('billing', 'b-1'); // not a change
      expect((await store.getService('orders')).revision).toBe(3);
      expect((await store.getService('billing')).revision).toBe(2);
      await store.deregister('orders', 'o-1'); // 4
      expect((await store.getService('orders')).revision).toBe(4);
    });

    it('dumps a state whose revision matches its data', async () => {
      const { store } = await open();
      await store.register(instance('orders', 'o-1'));
      await store.register(instance('orders', 'o-2'));
      await store.register(instance('billing', 'b-1'));
      await store.deregister('orders', 'o-2');
      const state = await store.state();
      expect(state.revision).toBe(4);
      expect(state.services.map((s) => [s.name, s.revision, s.instances.map((i) => i.id)])).toEqual([
        ['billing', 3, ['b-1']],
        ['orders', 4, ['o-1']],
      ]);
    });

    it('delivers every event in revision order to a subscriber from revision 0', async () => {
      const { store } = await open();
      const feed = record(store, 0);
      await store.register(instance('orders', 'o-1'));
      await store.register(instance('billing', 'b-1'));
      await store.setStatus('orders', 'o-1', 'OUT_OF_SERVICE');
      await store.renew('orders', 'o-1', { weight: 7 });
      await store.deregister('billing', 'b-1');
      const events = await feed.waitForCount(5);
      expect(events.map((e) => e.revision)).toEqual([1, 2, 3, 4, 5]);
      expect(feed.summary()).toEqual([
        'register orders/o-1', 'register billing/b-1', 'status orders/o-1', 'update orders/o-1', 'deregister billing/b-1',
      ]);
      const late = record(store, 0);
      await late.waitForCount(5);
      expect(late.events).toEqual(events);
    });

    it('delivers only newer events to a subscriber from the current revision', async () => {
      const { store } = await open();
      await store.register(instance('orders', 'o-1'));
      await store.register(instance('orders', 'o-2'));
      const { revision } = await store.state();
      const feed = record(store, revision);
      await store.register(instance('orders', 'o-3'));
      await feed.waitForCount(1);
      await sleep(SETTLE_MS);
      expect(feed.summary()).toEqual(['register orders/o-3']);
      expect(feed.events[0]!.revision).toBe(3);
    });

    it('expires a lease that was not renewed exactly once', async () => {
      const harness = await open(MANUAL_SWEEP);
      const { store } = harness;
      await store.register(instance('orders', 'o-1', { ttl: 1 }));
      await store.register(instance('orders', 'o-2', { ttl: 30 }));
      const feed = record(store, 2);
      await elapse(harness, 1500);
      expect(await store.renew('orders', 'o-1')).toBeUndefined();
      const [first, second] = await Promise.all([store.sweep(), store.sweep()]);
      expect(first.expired + second.expired).toBe(1);
      expect(await store.sweep()).toEqual({ expired: 0, held: [] });
      await feed.waitForCount(1);
      await sleep(SETTLE_MS);
      expect(feed.summary()).toEqual(['expire orders/o-1']);
      expect(feed.events[0]!.instance).toBeUndefined();
      expect((await store.getService('orders')).instances.map((i) => i.id)).toEqual(['o-2']);
    });

    it('holds expiry by self-preservation when most of a service would expire, and releases it when fewer would', async () => {
      const harness = await open({ ...MANUAL_SWEEP, selfPreservation: 0.85, selfPreservationMinInstances: 3 });
      const { store } = harness;
      const ids = ['p-1', 'p-2', 'p-3', 'p-4', 'p-5'];
      for (const id of ids) await store.register(instance('pool', id, { ttl: 1 }));
      await store.register(instance('solo', 's-1', { ttl: 1 }));
      const feed = record(store, 6);
      await elapse(harness, 1500);
      const held = await store.sweep();
      expect(held).toEqual({ expired: 1, held: [{ service: 'pool', wouldExpire: 5, instances: 5 }] });
      expect((await store.getService('pool')).instances).toHaveLength(5);

      // Two instances come back: 3 of 5 is below the fraction, so those 3 expire.
      await store.register(instance('pool', 'p-1', { ttl: 30 }));
      await store.register(instance('pool', 'p-2', { ttl: 30 }));
      expect(await store.sweep()).toEqual({ expired: 3, held: [] });
      await feed.waitForCount(6);
      await sleep(SETTLE_MS);
      expect(feed.summary()).toEqual([
        'expire solo/s-1', 'update pool/p-1', 'update pool/p-2', 'expire pool/p-3', 'expire pool/p-4', 'expire pool/p-5',
      ]);
      expect((await store.getService('pool')).instances.map((i) => i.id)).toEqual(['p-1', 'p-2']);
    });

    it('rejects a new instance beyond maxInstancesPerService but still updates existing ones', async () => {
      const { store } = await open({ maxInstancesPerService: 2 });
      await store.register(instance('orders', 'o-1'));
      await store.register(instance('orders', 'o-2'));
      const error = await store.register(instance('orders', 'o-3')).catch((err: unknown) => err);
      expect(isWaypostError(error, 'limit_exceeded')).toBe(true);
      expect((error as Error).message).toBe(
        'service "orders" already has 2 instances, the most registry.maxInstancesPerService allows',
      );
      expect((await store.register(instance('orders', 'o-1', { weight: 5 }))).created).toBe(false);
      expect((await store.register(instance('billing', 'b-1'))).created).toBe(true);
    });

    it('reports each periodic sweep to onSweep', async () => {
      const results: unknown[] = [];
      const harness = await open({ sweepIntervalMs: 200, onSweep: (result) => void results.push(result) });
      await harness.store.register(instance('orders', 'o-1', { ttl: 1 }));
      await elapse(harness, 1500);
      await waitFor('a sweep that expired o-1', () => results.some((r) => (r as { expired: number }).expired === 1));
    });

    if (capabilities.readOnly) {
      it('refuses every write as forbidden and leaves expiry to the store it reads from', async () => {
        const harness = await makeStore(MANUAL_SWEEP);
        harnesses.push(harness);
        const { store, writer } = harness;
        await writer!.register(instance('orders', 'o-1', { ttl: 1 }));
        const refusals = await Promise.all([
          store.register(instance('orders', 'o-2')),
          store.renew('orders', 'o-1'),
          store.setStatus('orders', 'o-1', 'DRAINING'),
          store.deregister('orders', 'o-1'),
        ].map((write) => write.then(() => 'stored', (err: unknown) => (isWaypostError(err, 'forbidden') ? 'forbidden' : String(err)))));
        expect(refusals).toEqual(['forbidden', 'forbidden', 'forbidden', 'forbidden']);
        await elapse(harness, 1500);
        expect(await store.sweep()).toEqual({ expired: 0, held: [] });
        await harness.settle?.();
        expect((await store.getService('orders')).instances.map((i) => i.id)).toEqual(['o-1']);
      });
    }
  });
}
