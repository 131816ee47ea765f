/**
 * The Eureka REST API driven by the real eureka-js-client (and raw HTTP for the
 * calls that client does not make), against a real admin server, store and
 * mirror, on the memory store and on a real redis-server.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../helpers/redis-server.js';
import { eventually, startCompat, type CompatHarness } from './compat-harness.js';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const { Eureka } = require('eureka-js-client') as { Eureka: any };

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

function eurekaClient(port: number, instance: Record<string, unknown>, servicePath = '/eureka/apps/') {
  return new Eureka({
    logger: quiet,
    cwd: '/nonexistent',
    instance: {
      hostName: 'localhost',
      ipAddr: '127.0.0.1',
      port: { $: 18080, '@enabled': true },
      dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
      ...instance,
    },
    eureka: { host: '127.0.0.1', port, servicePath, heartbeatInterval: 150, registryFetchInterval: 150, maxRetries: 0 },
  });
}

function promisify(fn: (cb: (err?: Error | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => fn((err) => (err ? reject(err) : resolve())));
}

const registration = (app: string, extra: Record<string, unknown> = {}) => ({
  instance: {
    app,
    hostName: 'host-a',
    ipAddr: '127.0.0.1',
    port: { $: 8080, '@enabled': 'true' },
    vipAddress: app.toLowerCase(),
    dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
    leaseInfo: { durationInSecs: 30 },
    ...extra,
  },
});

describe.each([['memory'], ['redis']])('Eureka compatibility on the %s store', (kind) => {
  let redis: RedisServer | undefined;
  let h: CompatHarness;

  beforeAll(async () => {
    if (kind === 'redis') redis = await RedisServer.start();
    h = await startCompat(redis ? { redisUrl: redis.url } : {});
  });
  afterAll(async () => {
    await h?.close();
    await redis?.stop();
  });

  it('registers, heartbeats through several renewals, sees a native instance, and deregisters on stop()', async () => {
    await h.store.register({ service: 'inventory', id: 'inv-1', host: '127.0.0.1', port: 7001 });
    const client = eurekaClient(h.port, {
      app: 'ORDER_SERVICE',
      instanceId: 'localhost:order:18080',
      vipAddress: 'orders.vip',
      leaseInfo: { durationInSecs: 5 },
      metadata: { version: '2.3.1' },
    });
    let heartbeats = 0;
    client.on('heartbeat', () => (heartbeats += 1));
    await promisify((cb) => client.start(cb));
    try {
      const registered = h.mirror.service('order-service')?.instances[0];
      expect(registered).toMatchObject({
        id: 'localhost:order:18080',
        host: '127.0.0.1',
        port: 18080,
        status: 'UP',
        ttl: 5,
        metadata: { version: '2.3.1', 'eureka.app': 'ORDER_SERVICE', 'eureka.vipAddress': 'orders.vip' },
      });
      const firstExpiry = Date.parse(registered!.leaseExpiresAt);

      await eventually(() => heartbeats >= 4, 5000, 'four heartbeats');
      const renewed = await h.store.getService('order-service');
      expect(Date.parse(renewed.instances[0]!.leaseExpiresAt)).toBeGreaterThan(firstExpiry);

      const natives = client.getInstancesByAppId('INVENTORY');
      expect(natives).toHaveLength(1);
      expect(natives[0]).toMatchObject({ app: 'INVENTORY', instanceId: 'inv-1', ipAddr: '127.0.0.1', port: { $: 7001 }, status: 'UP' });
      expect(client.getInstancesByVipAddress('inventory')).toHaveLength(1);
      const own = client.getInstancesByVipAddress('orders.vip');
      expect(own[0]).toMatchObject({ app: 'ORDER_SERVICE', instanceId: 'localhost:order:18080', metadata: { version: '2.3.1' } });
    } finally {
      await promisify((cb) => client.stop(cb));
    }
    expect((await h.store.getService('order-service')).instances).toEqual([]);
    expect(h.mirror.service('order-service')?.instances).toEqual([]);
  });

  it('answers a heartbeat for an unknown instance with 404 so that the client registers again', async () => {
    const reply = await h.call('PUT', '/eureka/v2/apps/NOBODY/host-x');
    expect(reply.status).toBe(404);
    expect(reply.text).toBe('');
  });

  it('maps a non-UP Eureka status to OUT_OF_SERVICE and gives the original back', async () => {
    const reply = await h.call('POST', '/eureka/v2/apps/Starting.App', { json: registration('Starting.App', { status: 'STARTING' }) });
    expect(reply.status).toBe(204);
    const stored = (await h.store.getService('starting-app')).instances[0];
    expect(stored).toMatchObject({ id: 'host-a', status: 'OUT_OF_SERVICE', metadata: { 'eureka.status': 'STARTING', 'eureka.app': 'Starting.App' } });
    const got = await h.call('GET', '/eureka/v2/apps/STARTING.APP/host-a', { headers: { accept: 'application/json' } });
    expect(got.status).toBe(200);
    expect(got.body.instance).toMatchObject({ app: 'STARTING.APP', status: 'STARTING', hostName: 'host-a', port: { $: 8080, '@enabled': 'true' } });
  });

  it('applies and removes a status override, and merges metadata', async () => {
    await h.call('POST', '/eureka/apps/PAYMENTS', { json: registration('PAYMENTS') });
    expect((await h.call('PUT', '/eureka/apps/PAYMENTS/host-a/status?value=OUT_OF_SERVICE')).status).toBe(200);
    let app = await h.call('GET', '/eureka/apps/PAYMENTS');
    expect(app.body.application.instance[0]).toMatchObject({ status: 'OUT_OF_SERVICE', overriddenStatus: 'OUT_OF_SERVICE' });
    expect(h.mirror.service('payments')?.instances[0]?.status).toBe('OUT_OF_SERVICE');

    // A re-registration (the client restarting) keeps the override, as Eureka does.
    expect((await h.call('POST', '/eureka/apps/PAYMENTS', { json: registration('PAYMENTS') })).status).toBe(204);
    expect(h.mirror.service('payments')?.instances[0]?.status).toBe('OUT_OF_SERVICE');

    expect((await h.call('DELETE', '/eureka/apps/PAYMENTS/host-a/status')).status).toBe(200);
    expect((await h.call('PUT', '/eureka/apps/PAYMENTS/host-a/metadata?build=42')).status).toBe(200);
    app = await h.call('GET', '/eureka/apps/PAYMENTS');
    expect(app.body.application.instance[0]).toMatchObject({ status: 'UP', overriddenStatus: 'UNKNOWN', metadata: { build: '42' } });
  });

  it('lists changes in /apps/delta with their action types and serves /vips', async () => {
    await h.call('POST', '/eureka/v2/apps/DELTA-APP', { json: registration('DELTA-APP', { hostName: 'host-d' }) });
    await h.call('DELETE', '/eureka/v2/apps/DELTA-APP/host-d');
    const delta = await h.call('GET', '/eureka/v2/apps/delta');
    expect(delta.status).toBe(200);
    const entries = delta.body.applications.application.find((a: { name: string }) => a.name === 'DELTA-APP').instance;
    expect(entries.map((i: { actionType: string }) => i.actionType)).toEqual(['ADDED', 'DELETED']);
    expect(delta.body.applications.apps__hashcode).toMatch(/^([A-Z_]+_\d+_)+$/);

    const vip = await h.call('GET', '/eureka/v2/vips/inventory');
    expect(vip.body.applications.application[0].instance[0]).toMatchObject({ app: 'INVENTORY', vipAddress: 'inventory' });
  });

  it('refuses bad registrations with a bare 400 and unknown paths with a bare 404', async () => {
    const noPort = await h.call('POST', '/eureka/v2/apps/BAD', { json: { instance: { hostName: 'h', ipAddr: '127.0.0.1' } } });
    expect(noPort.status).toBe(400);
    expect(noPort.text).toBe('');
    const badJson = await h.call('POST', '/eureka/v2/apps/BAD', { raw: '{"instance":', headers: { 'content-type': 'application/json' } });
    expect(badJson.status).toBe(400);
    expect((await h.call('GET', '/eureka/v2/nothing')).status).toBe(404);
    expect((await h.call('PATCH', '/eureka/v2/apps/BAD')).status).toBe(405);
  });
});

describe('Eureka compatibility with a token and CIDR rules', () => {
  let h: CompatHarness;
  beforeAll(async () => {
    h = await startCompat({ config: { admin: { token: 's3cret', allowedCidrs: ['10.0.0.0/8'] } } });
  });
  afterAll(async () => h?.close());

  it('needs the admin token (Bearer, or as the Basic password) on writes but not on reads', async () => {
    const body = registration('SECURED', { ipAddr: '10.1.2.3' });
    expect((await h.call('POST', '/eureka/v2/apps/SECURED', { json: body })).status).toBe(401);
    expect((await h.call('POST', '/eureka/v2/apps/SECURED', { json: body, token: 'wrong' })).status).toBe(401);
    const basic = `Basic ${Buffer.from('eureka:s3cret').toString('base64')}`;
    expect((await h.call('POST', '/eureka/v2/apps/SECURED', { json: body, headers: { authorization: basic } })).status).toBe(204);
    expect((await h.call('GET', '/eureka/v2/apps/SECURED')).status).toBe(200);
  });

  it('refuses a host outside admin.allowedCidrs with 403', async () => {
    const reply = await h.call('POST', '/eureka/v2/apps/OUTSIDE', { json: registration('OUTSIDE'), token: 's3cret' });
    expect(reply.status).toBe(403);
    expect(h.mirror.service('outside')).toBeUndefined();
  });
});
