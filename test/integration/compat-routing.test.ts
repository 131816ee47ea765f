/**
 * Instances registered through the Eureka and Consul compat APIs are routed to
 * by the real proxy (src/app.ts wiring, host convention {service}.localhost).
 * The compat handlers run on their own admin server over the app's store and
 * mirror, as the app would run them on its admin listener.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminServer } from '../../src/admin/server.js';
import { compatHandlers, type CompatHandlers } from '../../src/compat/index.js';
import { silentLogger } from '../../src/log.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { startBackend, type Backend } from '../helpers/backends.js';
import { eventually } from './compat-harness.js';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const { Eureka } = require('eureka-js-client') as { Eureka: any };
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const Consul = require('consul') as any;

function get(port: number, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/hello', headers: { host }, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('routing to instances registered through the compat APIs', () => {
  let t: TestApp;
  let compat: CompatHandlers;
  let admin: AdminServer;
  let adminPort: number;
  let backend: Backend;

  beforeAll(async () => {
    t = await startApp({ domains: ['localhost'], compat: { eureka: true, consul: true } });
    compat = compatHandlers({ config: t.app.config, store: t.app.store, mirror: t.app.mirror, logger: silentLogger });
    admin = new AdminServer({
      config: { ...t.app.config, admin: { ...t.app.config.admin, listen: { host: '127.0.0.1', port: 0 } } },
      store: t.app.store,
      mirror: t.app.mirror,
      metrics: t.app.metrics,
      logger: silentLogger,
      extraHandlers: compat.handlers,
    });
    adminPort = (await admin.listen()).port;
    backend = await startBackend({ name: 'compat-backend' });
  });
  afterAll(async () => {
    compat?.close();
    await admin?.close();
    await backend?.close();
    await t?.stop();
  });

  it('forwards to an instance that a Eureka client registered', async () => {
    const client = new Eureka({
      logger: { debug() {}, info() {}, warn() {}, error() {} },
      cwd: '/nonexistent',
      instance: {
        app: 'ROUTED_APP',
        hostName: 'localhost',
        ipAddr: '127.0.0.1',
        port: { $: backend.port, '@enabled': true },
        vipAddress: 'routed-app',
        dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
      },
      eureka: { host: '127.0.0.1', port: adminPort, servicePath: '/eureka/apps/', heartbeatInterval: 1000, registryFetchInterval: 1000, maxRetries: 0 },
    });
    await new Promise<void>((resolve, reject) => client.start((err?: Error) => (err ? reject(err) : resolve())));
    try {
      const reply = await get(t.port, 'routed-app.localhost');
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.body)).toMatchObject({ backend: 'compat-backend', url: '/hello' });
    } finally {
      await new Promise<void>((resolve) => client.stop(() => resolve()));
    }
    expect((await get(t.port, 'routed-app.localhost')).status).toBe(503);
  });

  it('forwards to a Consul-registered instance while its TTL check passes, and stops when it is critical', async () => {
    const consul = new Consul({ host: '127.0.0.1', port: String(adminPort) });
    try {
      await consul.agent.service.register({ name: 'consul-routed', id: 'cr-1', address: '127.0.0.1', port: backend.port, check: { ttl: '30s' } });
      expect((await get(t.port, 'consul-routed.localhost')).status).toBe(503);
      await consul.agent.check.pass('service:cr-1');
      const reply = await get(t.port, 'consul-routed.localhost');
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.body)).toMatchObject({ backend: 'compat-backend' });
      await consul.agent.check.fail('service:cr-1');
      await eventually(async () => (await get(t.port, 'consul-routed.localhost')).status === 503, 3000, 'critical instance out of rotation');
      await consul.agent.service.deregister('cr-1');
    } finally {
      consul.destroy();
    }
  });
});
