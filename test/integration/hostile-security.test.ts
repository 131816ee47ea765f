/**
 * Security defaults through the whole app (src/app.ts wiring): admin on loopback
 * unless configured, token on every mutation, registered hosts inside the
 * allowed CIDRs, no registration at the proxy's own listeners (self-loop), and
 * the size limits of a registration. A refused write never stores anything.
 */
import os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { SelfLoopGuard } from '../../src/admin/self-loop.js';
import { WaypostApp } from '../../src/app.js';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import { call } from './admin-harness.js';

const running: WaypostApp[] = [];

async function start(overrides: ConfigInput = {}): Promise<{ app: WaypostApp; admin: number; http: number }> {
  const config = configSchema.parse({ listen: '127.0.0.1:0', accessLog: 'off', ...overrides, admin: { listen: '127.0.0.1:0', ...overrides.admin } });
  const app = new WaypostApp(Object.freeze(config), { logger: silentLogger, metrics: new Metrics({ processMetrics: false }) });
  running.push(app);
  const addresses = await app.start();
  return { app, admin: addresses.admin.port, http: addresses.http[0]!.port };
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((app) => app.stop()));
});

const register = (admin: number, service: string, body: unknown, token?: string) =>
  call(admin, 'POST', `/v1/services/${service}/instances`, { json: body, ...(token === undefined ? {} : { token }) });

describe('admin listener default', () => {
  it('binds the admin API to loopback unless configured otherwise', async () => {
    expect(configSchema.parse({}).admin.listen).toEqual({ host: '127.0.0.1', port: 9901 });
    const { app } = await start();
    expect(app.addresses.admin.host).toBe('127.0.0.1');
  });
});

describe('token on mutations', () => {
  it('refuses every mutating call without the right token and stores nothing, while reads stay open', async () => {
    const { app, admin } = await start({ admin: { token: 'tok-123' } });
    const body = { id: 'a', host: '10.0.0.1', port: 80 };
    for (const token of [undefined, 'tok-12', 'tok-1234', 'TOK-123']) {
      const reply = await register(admin, 'orders', body, token);
      expect(reply.status).toBe(401);
      expect(reply.body.error).toBe('unauthorized');
    }
    expect(await app.store.listServices()).toEqual([]);
    expect((await register(admin, 'orders', body, 'tok-123')).status).toBe(201);
    for (const [method, path, json] of [
      ['PUT', '/v1/services/orders/instances/a/heartbeat', undefined],
      ['PUT', '/v1/services/orders/instances/a/status', { status: 'DRAINING' }],
      ['DELETE', '/v1/services/orders/instances/a', undefined],
    ] as const) {
      const reply = await call(admin, method, path, json === undefined ? {} : { json });
      expect(reply.status, `${method} ${path}`).toBe(401);
    }
    expect((await app.store.getService('orders')).instances.map((i) => i.status)).toEqual(['UP']);
    expect((await call(admin, 'GET', '/v1/services/orders')).status).toBe(200);
  });
});

describe('allowed CIDRs', () => {
  it('refuses hosts outside admin.allowedCidrs with 403 on field host', async () => {
    const { app, admin } = await start({ admin: { allowedCidrs: ['10.0.0.0/8'] } });
    const outside = await register(admin, 'orders', { host: '192.168.1.5', port: 80 });
    expect(outside.status).toBe(403);
    expect(outside.body).toEqual({ error: 'forbidden', message: 'host "192.168.1.5" is outside admin.allowedCidrs', field: 'host' });
    const name = await register(admin, 'orders', { host: 'db.internal', port: 80 });
    expect(name.status).toBe(403);
    expect(await app.store.listServices()).toEqual([]);
    expect((await register(admin, 'orders', { host: '10.9.8.7', port: 80 })).status).toBe(201);
  });
});

describe('no self-loop', () => {
  it("refuses to register the proxy's own HTTP and admin listeners by any local name, with 403 on field port", async () => {
    const { app, admin, http } = await start();
    // The message names the host as stored: numeric hosts canonical (test/integration/loop-guard.test.ts has every spelling).
    for (const [host, port, named = host] of [
      ['127.0.0.1', http],
      ['localhost', http],
      ['0.0.0.0', http],
      ['127.0.0.1', admin],
      ['::ffff:127.0.0.1', http, '127.0.0.1'],
    ] as const) {
      const reply = await register(admin, 'loop', { host, port });
      expect(reply.status, `${host}:${port}`).toBe(403);
      expect(reply.body).toEqual({
        error: 'forbidden',
        message: `${named}:${port} is this proxy's own listener; registering it would make the proxy forward to itself`,
        field: 'port',
      });
    }
    expect(await app.store.listServices()).toEqual([]);
    // Another port on the same host is an ordinary backend.
    const other = http === 65_535 ? http - 1 : http + 1;
    expect((await register(admin, 'loop', { host: '127.0.0.1', port: other })).status).toBe(201);
  });

  it('treats a wildcard bind as every local address and a loopback bind as loopback only', () => {
    const wildcard = new SelfLoopGuard(() => [{ host: '0.0.0.0', port: 8080 }]);
    const external = Object.values(os.networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '0.0.0.0', '::1', ...(external ? [external] : [])]) {
      expect(() => wildcard.check(host, 8080), host).toThrow("is this proxy's own listener");
    }
    expect(() => wildcard.check('203.0.113.9', 8080)).not.toThrow();
    expect(() => wildcard.check('127.0.0.1', 8081)).not.toThrow();
    const loopback = new SelfLoopGuard(() => [{ host: '127.0.0.1', port: 8080 }]);
    expect(() => loopback.check('127.0.0.1', 8080)).toThrow();
    expect(() => loopback.check('[::1]', 8080)).toThrow();
    expect(() => loopback.check('203.0.113.9', 8080)).not.toThrow();
  });
});

describe('registration limits', () => {
  it('refuses oversized metadata and tag lists with 400 naming the field, and stores nothing', async () => {
    const { app, admin } = await start();
    const base = { host: '10.0.0.1', port: 80 };
    const cases: [unknown, string, string][] = [
      [{ ...base, metadata: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) }, 'metadata', 'metadata may hold at most 64 keys; got 65'],
      [{ ...base, metadata: { big: 'x'.repeat(513) } }, 'metadata.big', 'metadata.big must be a string of at most 512 characters'],
      [{ ...base, metadata: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, 'x'.repeat(500)])) }, 'metadata', 'metadata must serialize to at most 8192 bytes'],
      [{ ...base, tags: Array.from({ length: 33 }, (_, i) => `t${i}`) }, 'tags', 'tags may hold at most 32 entries; got 33'],
      [{ ...base, tags: ['x'.repeat(65)] }, 'tags[0]', 'tags[0] must be a string of 1-64 printable characters'],
    ];
    for (const [body, field, message] of cases) {
      const reply = await register(admin, 'orders', body);
      expect(reply.status, field).toBe(400);
      expect(reply.body.error).toBe('invalid');
      expect(reply.body.field).toBe(field);
      expect(reply.body.message).toContain(message);
    }
    expect(await app.store.listServices()).toEqual([]);
  });

  it('refuses an instance beyond registry.maxInstancesPerService with 429 limit_exceeded', async () => {
    const { app, admin } = await start({ registry: { maxInstancesPerService: 3 } });
    for (let i = 0; i < 3; i++) expect((await register(admin, 'orders', { id: `i${i}`, host: '10.0.0.1', port: 80 + i })).status).toBe(201);
    const fourth = await register(admin, 'orders', { id: 'i3', host: '10.0.0.1', port: 90 });
    expect(fourth.status).toBe(429);
    expect(fourth.body).toEqual({
      error: 'limit_exceeded',
      message: 'service "orders" already has 3 instances, the most registry.maxInstancesPerService allows',
    });
    // Updating an existing instance is not a new one.
    expect((await register(admin, 'orders', { id: 'i0', host: '10.0.0.2', port: 80 })).status).toBe(201);
    expect((await app.store.getService('orders')).instances).toHaveLength(3);
  });
});
