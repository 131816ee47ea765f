/**
 * A large registry is loaded in pages (no long Redis script) and made consistent from the
 * change feed. Checked against the ground truth: the feed from the very first change, replayed
 * up to the revision the paged load reports, must give exactly the same registry, while other
 * writers keep changing it during every load.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { applyEvent } from '../../src/registry/snapshot.js';
import { feedEntryToEvent, type StreamEntry } from '../../src/registry/redis-feed.js';
import { decodeRecord, RedisStore } from '../../src/registry/redis-store.js';
import type { RegistryState, ServiceState, StoredRoute } from '../../src/registry/store.js';
import { RedisServer, redisStoreOptions } from '../helpers/redis-server.js';

let server: RedisServer;
let redis: Redis;

beforeAll(async () => {
  server = await RedisServer.start();
  redis = new Redis(server.url);
  redis.on('error', () => {});
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

function openStore(prefix: string, options: { statePageSize?: number; feedLength?: number } = {}): RedisStore {
  return new RedisStore({
    redis: redisStoreOptions({ url: server.url, prefix, feedLength: options.feedLength ?? 1_000_000 }),
    defaultTtlSeconds: 3600,
    logger: silentLogger,
    ...(options.statePageSize === undefined ? {} : { statePageSize: options.statePageSize }),
  });
}

/** The registry at `revision`, rebuilt from the whole feed (the test keeps every entry). */
async function truthAt(prefix: string, revision: number, routes = new Map<string, StoredRoute>()): Promise<Map<string, ServiceState>> {
  const entries = (await redis.xrange(`{${prefix}}:feed`, '-', `${revision}-0`)) as StreamEntry[];
  const services = new Map<string, ServiceState>();
  for (const entry of entries) {
    const event = feedEntryToEvent(entry, decodeRecord);
    if (event.type === 'route-set') routes.set(event.id, event.route!);
    else if (event.type === 'route-delete') routes.delete(event.id);
    else services.set(event.service, applyEvent(services.get(event.service), event));
  }
  expect(entries.length).toBe(revision);
  return services;
}

/** API routes as `id service path revision`, in id order. */
const routeShape = (routes: Iterable<StoredRoute>): string[] =>
  [...routes].map((r) => `${r.id} ${String(r.route.service)} ${String(r.route.path)} ${r.revision}`).sort();

/** Services with their instances' ids, status and weight: what routing depends on. */
function shape(services: Iterable<ServiceState>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const service of services) {
    if (service.instances.length === 0) continue;
    out[service.name] = service.instances.map((i) => `${i.id}:${i.status}:${i.weight}`);
  }
  return out;
}

describe('RedisStore.state() in pages', () => {
  it('equals the registry at the reported revision while writers keep changing it', async () => {
    const prefix = 'paged-state';
    const paged = openStore(prefix, { statePageSize: 3 });
    const writer = openStore(prefix);
    await paged.start();
    await writer.start();
    try {
      for (let s = 0; s < 40; s++) {
        for (let i = 0; i < 3; i++) await writer.register({ service: `svc-${s}`, id: `i-${i}`, host: '10.0.0.1', port: 8000 + i });
      }
      let writing = true;
      let writes = 0;
      const churn = (async () => {
        for (let n = 0; writing; n++) {
          const service = `svc-${(n * 7) % 45}`; // services 40–44 appear and vanish during the loads
          const id = `i-${n % 4}`;
          if (n % 5 === 0) await writer.deregister(service, id);
          // API routes change during the loads too: the replay applies their events.
          else if (n % 10 === 2) await writer.putRoute(`r-${n % 6}`, { service, path: `/p${n % 3}` });
          else if (n % 10 === 7) await writer.deleteRoute(`r-${n % 6}`);
          else if (n % 5 === 1) await writer.setStatus(service, id, n % 2 === 0 ? 'OUT_OF_SERVICE' : 'UP');
          else await writer.register({ service, id, host: '10.0.0.2', port: 9000, weight: 1 + (n % 50) });
          writes++;
        }
      })();
      const states: RegistryState[] = [];
      for (let k = 0; k < 15; k++) states.push(await paged.state());
      writing = false;
      await churn;
      expect(writes).toBeGreaterThan(50);
      // The loads saw different revisions: writes really happened during them.
      expect(new Set(states.map((s) => s.revision)).size).toBeGreaterThan(5);
      expect(new Set(states.map((st) => routeShape(st.routes).join())).size).toBeGreaterThan(1);
      for (const state of states) {
        const routes = new Map<string, StoredRoute>();
        expect(shape(state.services)).toEqual(shape((await truthAt(prefix, state.revision, routes)).values()));
        expect(routeShape(state.routes)).toEqual(routeShape(routes.values()));
        for (const service of state.services) expect(service.revision).toBeLessThanOrEqual(state.revision);
      }
    } finally {
      await paged.close();
      await writer.close();
    }
  });

  it('stays exact when heavy writes trim the feed during a load (one-script fallback)', async () => {
    const prefix = 'paged-trimmed';
    // A feed of ~10 entries: the 60 registrations below trim it far past any load's start.
    const store = openStore(prefix, { statePageSize: 2, feedLength: 10 });
    await store.start();
    try {
      for (let s = 0; s < 20; s++) await store.register({ service: `svc-${s}`, id: 'a', host: '10.0.0.1', port: 80 });
      const writes = (async () => {
        for (let n = 0; n < 200; n++) await store.register({ service: `svc-${n % 20}`, id: 'b', host: '10.0.0.1', port: 81, weight: 1 + (n % 9) });
      })();
      const during = await store.state();
      await writes;
      const after = await store.state();
      expect(during.services.length).toBe(20);
      expect(after.services.map((s) => s.instances.length)).toEqual(Array.from({ length: 20 }, () => 2));
      expect(after.revision).toBe(Number(await redis.get(`{${prefix}}:rev`)));
    } finally {
      await store.close();
    }
  });
});
