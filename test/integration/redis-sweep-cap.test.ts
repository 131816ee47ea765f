/**
 * Self-preservation judges whole services even when a sweep handles only part of the due
 * leases (the per-sweep cap, made small here so the test needs 10 leases, not 100,000).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { RedisStore } from '../../src/registry/redis-store.js';
import { RedisServer } from '../helpers/redis-server.js';

let server: RedisServer;
const stores: RedisStore[] = [];

beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  for (const store of stores) await store.close();
  await server?.stop();
});

async function openStore(prefix: string): Promise<RedisStore> {
  const store = new RedisStore({
    redis: { url: server.url, sentinels: [], name: '', cluster: [], password: '', prefix, feedLength: 10_000 },
    selfPreservation: 0.85,
    selfPreservationMinInstances: 3,
    maxDuePerSweep: 4,
    // Only the test sweeps.
    sweepIntervalMs: 3_600_000,
    logger: silentLogger,
  });
  stores.push(store);
  await store.start();
  return store;
}

async function register(store: RedisStore, service: string, count: number, ttl: number, from = 0): Promise<void> {
  for (let i = from; i < from + count; i++) await store.register({ service, id: `${service}-${i}`, host: '127.0.0.1', port: 9000 + i, ttl });
}

/** Leases run on the Redis clock; 1 s is the shortest ttl. */
const waitForExpiry = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1_200));

describe('the Redis sweep with more due leases than it handles at once', () => {
  it('holds a service whose whole fleet expires, although each batch holds only part of it', async () => {
    const store = await openStore('cap-held');
    await register(store, 'orders', 10, 1);
    await waitForExpiry();

    const first = await store.sweep();
    expect(first).toEqual({ expired: 0, held: [{ service: 'orders', wouldExpire: 10, instances: 10 }] });
    const second = await store.sweep();
    expect(second.expired).toBe(0);
    expect((await store.getService('orders')).instances).toHaveLength(10);
  });

  it('still expires a service whose due share is small, a batch at a time', async () => {
    const store = await openStore('cap-expire');
    await register(store, 'orders', 6, 1);
    await register(store, 'orders', 14, 3600, 6);
    await waitForExpiry();

    expect(await store.sweep()).toEqual({ expired: 4, held: [] });
    expect(await store.sweep()).toEqual({ expired: 2, held: [] });
    expect((await store.getService('orders')).instances).toHaveLength(14);
  });
});
