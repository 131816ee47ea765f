import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import { RegistryMirror } from '../../src/mirror/mirror.js';
import { RedisStore } from '../../src/registry/redis-store.js';
import type { ServiceState } from '../../src/registry/store.js';
import type { InstanceStatus } from '../../src/types.js';
import { RedisServer, redisStoreOptions } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';

/** Redis restarts and resyncs take longer than the default wait. */
const LONG = { timeoutMs: 10_000 };

let server: RedisServer;
let prefixes = 0;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await server?.stop();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function openStore(prefix: string): Promise<RedisStore> {
  const store = new RedisStore({
    redis: redisStoreOptions({ url: server.url, prefix }),
    logger: silentLogger,
  });
  cleanups.push(() => store.close());
  await store.start();
  return store;
}

async function openMirror(store: RedisStore, metrics = new Metrics({ processMetrics: false })) {
  const mirror = new RegistryMirror({ store, logger: silentLogger, metrics, resyncInitialDelayMs: 20, resyncMaxDelayMs: 200 });
  cleanups.push(() => mirror.close());
  await mirror.start();
  return { mirror, metrics };
}

/** Services with instances, by name: what a proxy can route to. */
function snapshot(services: Iterable<ServiceState>): Record<string, ServiceState> {
  const out: Record<string, ServiceState> = {};
  for (const s of [...services].sort((a, b) => (a.name < b.name ? -1 : 1))) if (s.instances.length > 0) out[s.name] = s;
  return out;
}

/** Lease times move with renewals, which are not change events; everything else must match. */
function withoutLeases(services: Record<string, ServiceState>) {
  return Object.fromEntries(
    Object.entries(services).map(([name, s]) => [
      name,
      { ...s, instances: s.instances.map(({ leaseExpiresAt: _l, ...rest }) => rest) },
    ]),
  );
}

const gauge = async (metrics: Metrics) => (await metrics.registryConnected.get()).values[0]!.value;
const resyncs = async (metrics: Metrics) =>
  (await metrics.registryEvents.get()).values.find((v) => v.labels.type === 'resync')?.value ?? 0;

describe('RegistryMirror on a real Redis', () => {
  it('two mirrors converge after a burst of 1,000 mixed changes', async () => {
    const prefix = `mirror-burst-${process.pid}-${++prefixes}`;
    const writer = await openStore(prefix);
    await writer.register({ service: 'seed', id: 's', host: '10.0.0.1', port: 80 });
    const { mirror: first } = await openMirror(await openStore(prefix));
    const { mirror: second } = await openMirror(await openStore(prefix));

    const statuses: InstanceStatus[] = ['UP', 'DRAINING', 'OUT_OF_SERVICE'];
    let seed = 42;
    // mulberry32: a fixed sequence, so a failure replays the same burst.
    const random = (n: number) => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return (((t ^ (t >>> 14)) >>> 0) % n);
    };
    let changes = 0;
    while (changes < 1000) {
      const batch: Promise<unknown>[] = [];
      for (let i = 0; i < 50; i += 1, changes += 1) {
        const service = `svc-${random(20)}`;
        const id = `i${random(15)}`;
        const op = random(10);
        if (op < 5) batch.push(writer.register({ service, id, host: `10.0.${random(250)}.${random(250)}`, port: 1000 + random(9000), weight: random(200) }));
        else if (op < 7) batch.push(writer.setStatus(service, id, statuses[random(3)]!));
        else if (op < 8) batch.push(writer.renew(service, id, { weight: random(200) }));
        else batch.push(writer.deregister(service, id));
      }
      await Promise.all(batch);
    }

    const final = await writer.state();
    await waitFor('both mirrors at the final revision', () => first.revision === final.revision && second.revision === final.revision, LONG);
    expect(snapshot(first.services())).toEqual(snapshot(second.services()));
    expect(withoutLeases(snapshot(first.services()))).toEqual(withoutLeases(snapshot(final.services)));
    expect(Object.keys(snapshot(first.services())).length).toBeGreaterThan(10);
  });

  it('keeps serving through a redis-server restart and resyncs after it', async () => {
    const prefix = `mirror-restart-${process.pid}-${++prefixes}`;
    const before = await openStore(prefix);
    await before.register({ service: 'orders', id: 'old', host: '10.0.0.1', port: 80 });
    const { mirror, metrics } = await openMirror(await openStore(prefix));
    // A change arriving through the feed proves the feed's own connection is up.
    await before.register({ service: 'orders', id: 'old2', host: '10.0.0.1', port: 80 });
    await waitFor('2 orders instances in the mirror', () => mirror.service('orders')?.instances.length === 2, LONG);
    expect(await gauge(metrics)).toBe(1);
    const served = mirror.service('orders');

    await server.kill();
    await waitFor('the mirror to see the disconnect', () => !mirror.connected, LONG);
    expect(await gauge(metrics)).toBe(0);
    // The last snapshot keeps serving; readiness stays.
    expect(mirror.synced).toBe(true);
    expect(mirror.service('orders')).toBe(served);

    await server.spawn();
    // The restarted server has no data (no persistence): write from a new store, as a registrar would.
    const after = await openStore(prefix);
    await after.register({ service: 'billing', id: 'new', host: '10.0.0.2', port: 81 });
    await waitFor("billing's instance 'new' in the mirror", () => mirror.service('billing')?.instances[0]?.id === 'new', LONG);
    expect(mirror.connected).toBe(true);
    expect(await gauge(metrics)).toBe(1);
    expect(await resyncs(metrics)).toBeGreaterThanOrEqual(1);
    // The resync replaced the whole map: what Redis no longer has is gone.
    expect(mirror.service('orders')).toBeUndefined();

    await after.register({ service: 'billing', id: 'newer', host: '10.0.0.3', port: 81 });
    await waitFor('2 billing instances in the mirror', () => mirror.service('billing')?.instances.length === 2, LONG);
  });
});
