import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { RedisStore } from '../../src/registry/redis-store.js';
import { RedisServer, redisStoreOptions } from '../helpers/redis-server.js';
import { startAdmin, type AdminHarness } from './admin-harness.js';
import { waitFor } from '../helpers/wait.js';

const harnesses: AdminHarness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.close();
});

async function admin(...args: Parameters<typeof startAdmin>): Promise<AdminHarness> {
  const h = await startAdmin(...args);
  harnesses.push(h);
  return h;
}

const register = (h: AdminHarness, service: string, body: Record<string, unknown>) =>
  h.call('POST', `/v1/services/${service}/instances`, { json: body });

describe('admin registry API', () => {
  it('registers, renews, changes status and deregisters an instance', async () => {
    const h = await admin();
    const created = await register(h, 'orders', { id: 'o1', host: '10.0.0.5', port: 8080, tags: ['v2'], metadata: { version: '2.3.1' } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: 'o1',
      service: 'orders',
      host: '10.0.0.5',
      port: 8080,
      weight: 100,
      zone: '',
      tags: ['v2'],
      metadata: { version: '2.3.1' },
      status: 'UP',
      ttl: 30,
    });
    expect(typeof created.body.registeredAt).toBe('string');

    const updated = await register(h, 'orders', { id: 'o1', host: '10.0.0.5', port: 8081 });
    expect(updated.status).toBe(201);
    expect(updated.body.port).toBe(8081);

    const renewed = await h.call('PUT', '/v1/services/orders/instances/o1/heartbeat');
    expect(renewed.status).toBe(200);
    expect(renewed.body.id).toBe('o1');

    const chunkedEmpty = await h.call('PUT', '/v1/services/orders/instances/o1/heartbeat', {
      raw: '',
      headers: { 'transfer-encoding': 'chunked' },
    });
    expect(chunkedEmpty.status).toBe(200);

    const weighted = await h.call('PUT', '/v1/services/orders/instances/o1/heartbeat', { json: { weight: 7 } });
    expect(weighted.status).toBe(200);
    expect(weighted.body.weight).toBe(7);
    expect((await h.call('GET', '/v1/services/orders')).body.instances[0].weight).toBe(7);

    const drained = await h.call('PUT', '/v1/services/orders/instances/o1/status', { json: { status: 'DRAINING' } });
    expect(drained.status).toBe(200);
    expect(drained.body.status).toBe('DRAINING');
    const view = await h.call('GET', '/v1/services/orders');
    expect(view.body.instances.map((i: { id: string; health: string }) => [i.id, i.health])).toEqual([['o1', 'draining']]);

    const removed = await h.call('DELETE', '/v1/services/orders/instances/o1');
    expect(removed.status).toBe(204);
    expect(removed.text).toBe('');
    expect((await h.call('GET', '/v1/services')).body).toEqual({ services: [] });
  });

  it('generates an id when none is given', async () => {
    const h = await admin();
    const created = await register(h, 'orders', { host: '10.0.0.5', port: 8080 });
    expect(created.status).toBe(201);
    expect(created.body.id).toMatch(/^orders-[0-9a-f]{8}$/);
  });

  it('answers 404 for unknown instances, services and paths', async () => {
    const h = await admin();
    const heartbeat = await h.call('PUT', '/v1/services/orders/instances/nope/heartbeat');
    expect(heartbeat.status).toBe(404);
    expect(heartbeat.body).toEqual({
      error: 'not_found',
      message: 'instance "nope" of service "orders" is not registered (or its lease expired); register it again',
      field: 'id',
    });
    const status = await h.call('PUT', '/v1/services/orders/instances/nope/status', { json: { status: 'UP' } });
    expect(status.status).toBe(404);
    expect(status.body.error).toBe('not_found');
    const removed = await h.call('DELETE', '/v1/services/orders/instances/nope');
    expect(removed.status).toBe(404);
    expect(removed.body.message).toBe('instance "nope" of service "orders" is not registered (or its lease expired)');
    const service = await h.call('GET', '/v1/services/orders');
    expect(service.status).toBe(404);
    expect(service.body).toEqual({ error: 'not_found', message: 'service "orders" has no registered instances', field: 'service' });
    const path = await h.call('GET', '/v2/anything');
    expect(path.status).toBe(404);
    expect(path.body).toEqual({ error: 'not_found', message: 'no such admin path: "/v2/anything"' });
  });

  it('answers 405 with an Allow header for a wrong method', async () => {
    const h = await admin();
    const reply = await h.call('GET', '/v1/services/orders/instances');
    expect(reply.status).toBe(405);
    expect(reply.headers.allow).toBe('POST');
    expect(reply.body).toEqual({ error: 'method_not_allowed', message: 'this path accepts POST' });
    const health = await h.call('POST', '/healthz');
    expect(health.status).toBe(405);
    expect(health.headers.allow).toBe('GET');
  });

  it('lists services with instance and healthy counts', async () => {
    const h = await admin();
    await register(h, 'orders', { id: 'a', host: '10.0.0.1', port: 80 });
    await register(h, 'orders', { id: 'b', host: '10.0.0.2', port: 80, status: 'OUT_OF_SERVICE' });
    await register(h, 'orders', { id: 'c', host: '10.0.0.3', port: 80, status: 'DRAINING' });
    await register(h, 'billing', { id: 'x', host: '10.0.0.4', port: 80 });
    const list = await h.call('GET', '/v1/services');
    expect(list.status).toBe(200);
    expect(list.body).toEqual({
      services: [
        { name: 'billing', instances: 1, healthy: 1 },
        { name: 'orders', instances: 3, healthy: 1 },
      ],
    });
  });

  it('uses the given health model for instance health', async () => {
    const h = await admin({}, { healthOf: (record) => (record.id === 'a' ? 'ejected' : 'healthy') });
    await register(h, 'orders', { id: 'a', host: '10.0.0.1', port: 80 });
    await register(h, 'orders', { id: 'b', host: '10.0.0.2', port: 80 });
    const view = await h.call('GET', '/v1/services/orders');
    expect(view.body.instances.map((i: { health: string }) => i.health)).toEqual(['ejected', 'healthy']);
    expect((await h.call('GET', '/v1/services')).body.services).toEqual([{ name: 'orders', instances: 2, healthy: 1 }]);
  });

  it('shows a write in the very next read (read-your-writes)', async () => {
    const h = await admin();
    for (let i = 0; i < 20; i += 1) {
      const created = await register(h, 'orders', { id: `o${i}`, host: '10.0.0.1', port: 80 });
      const view = await h.call('GET', '/v1/services/orders');
      expect(view.body.revision).toBe(h.mirror.revision);
      expect(view.body.instances.map((r: { id: string }) => r.id)).toContain(created.body.id);
    }
  });

  it('answers a blocking query at once when the service is newer than wait', async () => {
    const h = await admin();
    await register(h, 'orders', { id: 'a', host: '10.0.0.1', port: 80 });
    const reply = await h.call('GET', '/v1/services/orders?wait=0&timeout=5m');
    expect(reply.status).toBe(200);
    expect(reply.body.revision).toBe(1);
    expect(reply.headers['x-waypost-revision']).toBe('1');
  });

  it('parks a blocking query until the service changes', async () => {
    const h = await admin();
    await register(h, 'orders', { id: 'a', host: '10.0.0.1', port: 80 });
    const parked = h.call('GET', '/v1/services/orders?wait=1&timeout=20s');
    await waitFor('1 parked blocking queries', () => parkedCount(h) === 1);
    await register(h, 'users', { id: 'u', host: '10.0.0.1', port: 80 });
    await register(h, 'orders', { id: 'b', host: '10.0.0.2', port: 80 });
    const reply = await parked;
    expect(reply.status).toBe(200);
    expect(reply.body.revision).toBe(3);
    expect(reply.body.instances.map((r: { id: string }) => r.id)).toEqual(['a', 'b']);
  });

  it('answers a blocking query with the same revision when the timeout passes', async () => {
    const h = await admin();
    await register(h, 'orders', { id: 'a', host: '10.0.0.1', port: 80 });
    const reply = await h.call('GET', '/v1/services/orders?wait=1&timeout=200ms');
    expect(reply.status).toBe(200);
    expect(reply.body.revision).toBe(1);
    const unknown = await h.call('GET', '/v1/services/nobody?wait=0&timeout=50ms');
    expect(unknown.status).toBe(200);
    expect(unknown.body).toEqual({ name: 'nobody', revision: 0, instances: [] });
  });

  it('wakes a blocking query on the deregistration of the last instance', async () => {
    const h = await admin();
    await register(h, 'orders', { id: 'a', host: '10.0.0.1', port: 80 });
    const parked = h.call('GET', '/v1/services/orders?wait=1&timeout=20s');
    await waitFor('1 parked blocking queries', () => parkedCount(h) === 1);
    await h.call('DELETE', '/v1/services/orders/instances/a');
    const reply = await parked;
    expect(reply.body).toEqual({ name: 'orders', revision: 2, instances: [] });
  });

  it('refuses to park more than admin.maxWaiters queries with 429, and frees slots of clients that leave', async () => {
    const h = await admin({ admin: { maxWaiters: 2 } });
    const leaving = new AbortController();
    const first = h.call('GET', '/v1/services/orders?wait=0&timeout=20s', { signal: leaving.signal }).catch(() => 'aborted');
    const second = h.call('GET', '/v1/services/orders?wait=0&timeout=20s');
    await waitFor('2 parked blocking queries', () => parkedCount(h) === 2);
    const third = await h.call('GET', '/v1/services/orders?wait=0&timeout=20s');
    expect(third.status).toBe(429);
    expect(third.body).toEqual({
      error: 'limit_exceeded',
      message: 'too many blocking queries are parked (admin.maxWaiters is 2); retry later',
    });
    leaving.abort();
    expect(await first).toBe('aborted');
    await waitFor('1 parked blocking queries', () => parkedCount(h) === 1);
    const fourth = h.call('GET', '/v1/services/orders?wait=0&timeout=20s');
    await waitFor('2 parked blocking queries', () => parkedCount(h) === 2);
    await h.server.close();
    expect((await second).status).toBe(200);
    expect((await fourth).body).toEqual({ name: 'orders', revision: 0, instances: [] });
  });

  it('serves /healthz, /readyz and /metrics', async () => {
    let ready = false;
    const h = await admin({}, { isReady: () => ready });
    expect((await h.call('GET', '/healthz')).body).toEqual({ status: 'ok' });
    const notReady = await h.call('GET', '/readyz');
    expect(notReady.status).toBe(503);
    expect(notReady.body).toMatchObject({ status: 'not_ready', registrySynced: true });
    ready = true;
    expect((await h.call('GET', '/readyz')).status).toBe(200);
    await register(h, 'orders', { id: 'a', host: '10.0.0.1', port: 80 });
    const metrics = await h.call('GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toContain('text/plain');
    expect(metrics.text).toContain('waypost_registry_events_total{type="register"} 1');
    expect(metrics.text).toContain('waypost_registry_connected 1');
  });

  it('answers 500 without details when a handler throws unexpectedly', async () => {
    const h = await admin({}, { extraRoutes: [{ method: 'GET', path: '/boom', handle: () => { throw new Error('secret detail'); } }] });
    const reply = await h.call('GET', '/boom');
    expect(reply.status).toBe(500);
    expect(reply.body).toEqual({ error: 'internal', message: 'internal error' });
    expect((await h.call('GET', '/healthz')).status).toBe(200);
  });
});

const parkedCount = (h: AdminHarness): number => h.server.parkedQueries;

describe('admin registry API on a real Redis', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('reads its writes, and while Redis is down refuses writes with 503 but keeps serving reads', async () => {
    const store = new RedisStore({
      redis: redisStoreOptions({ url: server.url, prefix: `admin-${process.pid}`, feedLength: 1000 }),
      writeRetryMs: 200,
      logger: silentLogger,
    });
    await store.start();
    const h = await admin({}, { store });
    try {
      const created = await register(h, 'orders', { id: 'a', host: '10.0.0.1', port: 80 });
      expect(created.status).toBe(201);
      const view = await h.call('GET', '/v1/services/orders');
      expect(view.body.instances.map((r: { id: string }) => r.id)).toEqual(['a']);

      await server.kill();
      const refused = await register(h, 'orders', { id: 'b', host: '10.0.0.2', port: 80 });
      expect(refused.status).toBe(503);
      expect(refused.body).toEqual({ error: 'registry_unavailable', message: `Redis at ${new URL(server.url).host} is unreachable` });
      const stale = await h.call('GET', '/v1/services/orders');
      expect(stale.status).toBe(200);
      expect(stale.body.instances.map((r: { id: string }) => r.id)).toEqual(['a']);
      expect((await h.call('GET', '/readyz')).status).toBe(200);
      expect((await h.call('GET', '/metrics')).text).toContain('waypost_registry_connected 0');
    } finally {
      await h.close();
      await store.close();
    }
  });
});
