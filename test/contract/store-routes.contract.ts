/**
 * The route cases of the RegistryStore contract (issue 19), run by storeContract for every
 * store: API routes (put/get/list/delete, feed entries sharing the revision counter, state)
 * and routes declared by instances (stored on the record, one owning service per host+path,
 * released when the last declaring instance leaves).
 */
import { expect, it } from 'vitest';
import { isWaypostError } from '../../src/errors.js';
import type { StoreOptions } from '../../src/registry/lease.js';
import type { RegistryStore } from '../../src/registry/store.js';
import type { RegistrationInput } from '../../src/types.js';
import { sleep } from '../helpers/wait.js';
import type { FeedRecorder, StoreFactory, StoreHarness } from './store.contract.js';

export interface RouteCaseContext {
  open(options?: StoreOptions): Promise<StoreHarness>;
  record(store: RegistryStore, fromRevision?: number): FeedRecorder;
  elapse(harness: StoreHarness, ms: number): Promise<void>;
  readOnly: boolean;
  makeStore: StoreFactory;
  harnesses: StoreHarness[];
}

const MANUAL_SWEEP: StoreOptions = { sweepIntervalMs: 3_600_000, selfPreservation: 0 };

const declaring = (service: string, id: string, routes: RegistrationInput['routes']): RegistrationInput => ({
  service,
  id,
  host: '10.0.0.5',
  port: 8080,
  ...(routes ? { routes } : {}),
});

const codeOf = (promise: Promise<unknown>): Promise<string> =>
  promise.then(
    () => 'stored',
    (err: unknown) => (isWaypostError(err) ? `${err.code}: ${err.message}` : String(err)),
  );

export function routeContractCases(ctx: RouteCaseContext): void {
  const { open, record } = ctx;

  it('stores an API route and lists, gets and deletes it, with feed entries on the instance revision counter', async () => {
    const { store } = await open();
    const feed = record(store);
    await store.register(declaring('orders', 'o-1', undefined));
    const put = await store.putRoute('orders-api', { service: 'orders', path: '/api', timeouts: { header: '5s' } });
    expect(put.created).toBe(true);
    expect(put.route).toEqual({ id: 'orders-api', revision: 2, route: { path: '/api', service: 'orders', timeouts: { header: '5s' } } });
    expect(await store.getRoute('orders-api')).toEqual(put.route);
    expect(await store.listRoutes()).toEqual([put.route]);
    expect((await store.state()).routes).toEqual([put.route]);
    expect(await store.deleteRoute('orders-api')).toBe(true);
    expect(await store.deleteRoute('orders-api')).toBe(false);
    expect(await store.getRoute('orders-api')).toBeUndefined();
    expect(await store.listRoutes()).toEqual([]);
    const events = await feed.waitForCount(3);
    expect(events.map((e) => `${e.revision} ${e.type} ${e.id}`)).toEqual(['1 register o-1', '2 route-set orders-api', '3 route-delete orders-api']);
    expect(events[1]!.route).toEqual(put.route);
    expect((await store.state()).revision).toBe(3);
  });

  it('treats an equal route body (keys in any order) as no change and a different one as an update', async () => {
    const { store } = await open();
    const feed = record(store);
    const first = await store.putRoute('a', { service: 'orders', path: '/a' });
    const same = await store.putRoute('a', { path: '/a', service: 'orders' });
    expect(same).toEqual({ route: first.route, created: false });
    const changed = await store.putRoute('a', { service: 'billing', path: '/a' });
    expect(changed.created).toBe(false);
    expect(changed.route.revision).toBe(2);
    await feed.waitForCount(2);
    await sleep(150);
    expect(feed.events.map((e) => `${e.type} ${e.id} ${String(e.route?.route.service)}`)).toEqual(['route-set a orders', 'route-set a billing']);
    expect((await store.listRoutes()).map((r) => r.id)).toEqual(['a']);
  });

  it('lists API routes sorted by id', async () => {
    const { store } = await open();
    for (const id of ['b', 'a.2', 'c-1']) await store.putRoute(id, { service: 'orders', path: `/${id}` });
    expect((await store.listRoutes()).map((r) => r.id)).toEqual(['a.2', 'b', 'c-1']);
    expect((await store.state()).routes.map((r) => r.id)).toEqual(['a.2', 'b', 'c-1']);
  });

  it('keeps the routes an instance declares on its record, and a changed list is an update', async () => {
    const { store } = await open();
    const feed = record(store);
    const routes = [{ path: '/api/orders', stripPrefix: true }, { host: 'orders.example.com', path: '/', stripPrefix: false }];
    const { record: stored } = await store.register(declaring('orders', 'o-1', routes));
    expect(stored.routes).toEqual(routes);
    expect((await store.getService('orders')).instances[0]!.routes).toEqual(routes);
    await store.register(declaring('orders', 'o-1', routes));
    await store.register(declaring('orders', 'o-1', [routes[0]!]));
    const events = await feed.waitForCount(2);
    await sleep(150);
    expect(feed.summary()).toEqual(['register orders/o-1', 'update orders/o-1']);
    expect(events[1]!.instance!.routes).toEqual([routes[0]]);
  });

  it('refuses a route another service declares, naming the owner, and stores nothing of the refused registration', async () => {
    const { store } = await open();
    await store.register(declaring('orders', 'o-1', [{ path: '/api', stripPrefix: false }]));
    const refused = await codeOf(store.register(declaring('billing', 'b-1', [{ path: '/other', stripPrefix: false }, { path: '/api', stripPrefix: true }])));
    expect(refused).toMatch(/^route_conflict: route "\/api" is already declared by service "orders"/);
    expect((await store.getService('billing')).instances).toEqual([]);
    // Other instances of the owner may declare it; another host on the same path is another route.
    expect(await codeOf(store.register(declaring('orders', 'o-2', [{ path: '/api', stripPrefix: false }])))).toBe('stored');
    expect(await codeOf(store.register(declaring('billing', 'b-1', [{ host: 'billing.example.com', path: '/api', stripPrefix: false }])))).toBe('stored');
  });

  it('frees a declared route once the last instance declaring it deregisters or drops it', async () => {
    const { store } = await open();
    await store.register(declaring('orders', 'o-1', [{ path: '/api', stripPrefix: false }]));
    await store.register(declaring('orders', 'o-2', [{ path: '/api', stripPrefix: false }]));
    await store.deregister('orders', 'o-1');
    expect(await codeOf(store.register(declaring('billing', 'b-1', [{ path: '/api', stripPrefix: false }])))).toMatch(/^route_conflict/);
    // o-2 registers again without the route: it no longer declares it.
    await store.register(declaring('orders', 'o-2', undefined));
    expect(await codeOf(store.register(declaring('billing', 'b-1', [{ path: '/api', stripPrefix: false }])))).toBe('stored');
    expect(await codeOf(store.register(declaring('orders', 'o-3', [{ path: '/api', stripPrefix: false }])))).toMatch(/owner|declared by service "billing"/);
  });

  it('frees a declared route when the lease of the last instance declaring it expires', async () => {
    const harness = await open(MANUAL_SWEEP);
    const { store } = harness;
    await store.register({ ...declaring('orders', 'o-1', [{ path: '/api', stripPrefix: false }]), ttl: 1 });
    await ctx.elapse(harness, 1500);
    expect((await store.sweep()).expired).toBe(1);
    expect(await codeOf(store.register(declaring('billing', 'b-1', [{ path: '/api', stripPrefix: false }])))).toBe('stored');
  });

  if (ctx.readOnly) {
    it('refuses route writes as forbidden', async () => {
      const harness = await ctx.makeStore(MANUAL_SWEEP);
      ctx.harnesses.push(harness);
      const refusals = await Promise.all([harness.store.putRoute('a', { service: 'orders' }), harness.store.deleteRoute('a')].map(codeOf));
      expect(refusals.map((r) => r.split(':')[0])).toEqual(['forbidden', 'forbidden']);
    });
  }
}
