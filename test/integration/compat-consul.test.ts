/**
 * The Consul API subset driven by the real `consul` npm client (and raw HTTP
 * for error shapes), against a real admin server, store and mirror, on the
 * memory store and on a real redis-server; HTTP and TCP checks probe real servers.
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../helpers/redis-server.js';
import { eventually, startCompat, type CompatHarness } from './compat-harness.js';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const Consul = require('consul') as any;

interface HealthEntry {
  Service: { ID: string; Service: string; Address: string; Port: number; Tags: string[]; Meta: Record<string, string> };
  Checks: { CheckID: string; Status: string }[];
}

describe.each([['memory'], ['redis']])('Consul compatibility on the %s store', (kind) => {
  let redis: RedisServer | undefined;
  let h: CompatHarness;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let consul: any;

  beforeAll(async () => {
    if (kind === 'redis') redis = await RedisServer.start();
    h = await startCompat(redis ? { redisUrl: redis.url } : {});
    consul = new Consul({ host: '127.0.0.1', port: String(h.port) });
  });
  afterAll(async () => {
    consul?.destroy();
    await h?.close();
    await redis?.stop();
  });

  const health = (service: string, passing: boolean): Promise<HealthEntry[]> => consul.health.service({ service, passing });

  it('registers with a TTL check, is healthy once passed, turns critical without passes, and is deregistered', async () => {
    await consul.agent.service.register({
      name: 'billing',
      id: 'billing-1',
      address: '127.0.0.1',
      port: 9100,
      tags: ['v1'],
      meta: { version: '1.0' },
      check: { ttl: '600ms' },
    });
    // A TTL check starts critical, as in Consul: registered but not passing.
    expect(await health('billing', true)).toEqual([]);
    expect(h.mirror.service('billing')?.instances[0]?.status).toBe('OUT_OF_SERVICE');

    await consul.agent.check.pass('service:billing-1');
    const passing = await health('billing', true);
    expect(passing).toHaveLength(1);
    expect(passing[0]!.Service).toMatchObject({ ID: 'billing-1', Service: 'billing', Address: '127.0.0.1', Port: 9100, Tags: ['v1'], Meta: { version: '1.0' } });
    expect(passing[0]!.Checks).toEqual([expect.objectContaining({ CheckID: 'service:billing-1', Status: 'passing' })]);
    expect(h.mirror.service('billing')?.instances[0]?.status).toBe('UP');

    // No more passes: critical after the TTL, still registered (Consul does not remove it).
    await eventually(async () => (await health('billing', true)).length === 0, 5000, 'billing turning critical');
    const all = await health('billing', false);
    expect(all).toHaveLength(1);
    expect(all[0]!.Checks[0]).toMatchObject({ Status: 'critical' });
    expect(h.mirror.service('billing')?.instances[0]?.status).toBe('OUT_OF_SERVICE');

    await consul.agent.service.deregister('billing-1');
    expect(await health('billing', false)).toEqual([]);
    expect((await h.store.getService('billing')).instances).toEqual([]);
  });

  it('removes an instance whose check stays critical for DeregisterCriticalServiceAfter', async () => {
    await consul.agent.service.register({
      name: 'Reports_API',
      id: 'reports 1',
      address: '127.0.0.1',
      port: 9200,
      check: { ttl: '300ms', status: 'passing', deregistercriticalserviceafter: '400ms' },
    });
    const [entry] = await health('Reports_API', true);
    // Names are mapped to ours and given back as sent.
    expect(entry!.Service).toMatchObject({ ID: 'reports 1', Service: 'Reports_API' });
    expect(h.mirror.service('reports-api')?.instances[0]).toMatchObject({ id: 'reports-1', status: 'UP' });
    await eventually(() => (h.mirror.service('reports-api')?.instances.length ?? 0) === 0, 5000, 'reports deregistered');
  });

  it('answers a blocking health query when an instance joins', async () => {
    const first = await h.call('GET', '/v1/health/service/ledger');
    expect(first.status).toBe(200);
    expect(first.body).toEqual([]);
    const index = first.headers['x-consul-index'] as string;
    expect(Number(index)).toBeGreaterThan(0);

    // The client hands back the response (for X-Consul-Index) when its ctx asks, as its own watch() does.
    const ctx = Object.assign(new EventEmitter(), { includeResponse: true });
    const blocked = consul.health.service({ service: 'ledger', index, wait: '20s', ctx }) as Promise<
      [http.IncomingMessage, HealthEntry[]]
    >;
    let answered = false;
    void blocked.then(() => (answered = true));
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(answered).toBe(false);

    await consul.agent.service.register({ name: 'ledger', id: 'ledger-1', address: '127.0.0.1', port: 9300 });
    const [response, entries] = await blocked;
    expect(entries.map((e) => e.Service.ID)).toEqual(['ledger-1']);
    expect(Number(response.headers['x-consul-index'])).toBeGreaterThan(Number(index));
  });

  it('lists services in the catalog with their tags, natively registered ones included', async () => {
    await h.store.register({ service: 'native-svc', id: 'n1', host: '127.0.0.1', port: 7002, tags: ['blue'] });
    await consul.agent.service.register({ name: 'catalogued', id: 'cat-1', address: '127.0.0.1', port: 9400, tags: ['a', 'b'] });
    await eventually(() => h.mirror.service('native-svc') !== undefined, 2000, 'native instance in the mirror');
    const services = await consul.catalog.service.list();
    expect(services).toMatchObject({ 'native-svc': ['blue'], catalogued: ['a', 'b'] });
    const nodes = await consul.catalog.service.nodes('native-svc');
    expect(nodes).toEqual([expect.objectContaining({ ServiceID: 'n1', ServiceAddress: '127.0.0.1', ServicePort: 7002 })]);
    const [native] = await health('native-svc', true);
    expect(native!.Checks).toEqual([expect.objectContaining({ CheckID: 'waypost:n1', Status: 'passing' })]);
  });

  it('puts an instance into maintenance and back', async () => {
    await consul.agent.service.register({ name: 'maint', id: 'maint-1', address: '127.0.0.1', port: 9500 });
    expect(await health('maint', true)).toHaveLength(1);
    await consul.agent.service.maintenance({ id: 'maint-1', enable: true, reason: 'upgrade' });
    expect(await health('maint', true)).toHaveLength(0);
    expect(h.mirror.service('maint')?.instances[0]?.status).toBe('OUT_OF_SERVICE');
    await consul.agent.service.maintenance({ id: 'maint-1', enable: false });
    expect(await health('maint', true)).toHaveLength(1);
  });

  it('runs HTTP and TCP checks against the registered service', async () => {
    let healthy = true;
    const app = http.createServer((_req, res) => {
      res.writeHead(healthy ? 200 : 503);
      res.end();
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const tcp = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    const appPort = (app.address() as AddressInfo).port;
    const tcpPort = (tcp.address() as AddressInfo).port;
    try {
      await consul.agent.service.register({
        name: 'probed',
        id: 'probed-1',
        address: '127.0.0.1',
        port: appPort,
        checks: [
          { http: `http://127.0.0.1:${appPort}/health`, interval: '100ms', timeout: '1s' },
          { tcp: `127.0.0.1:${tcpPort}`, interval: '100ms' },
        ],
      });
      await eventually(async () => (await health('probed', true)).length === 1, 5000, 'probed passing');
      healthy = false;
      await eventually(async () => (await health('probed', true)).length === 0, 5000, 'probed failing its HTTP check');
      const [entry] = await health('probed', false);
      expect(entry!.Checks.map((c) => [c.CheckID, c.Status])).toEqual([
        ['service:probed-1:1', 'critical'],
        ['service:probed-1:2', 'passing'],
      ]);
      await consul.agent.service.deregister('probed-1');
    } finally {
      app.close();
      tcp.close();
    }
  });

  it('answers errors as plain text with Consul status codes', async () => {
    const unknown = await h.call('PUT', '/v1/agent/service/deregister/nobody');
    expect(unknown.status).toBe(404);
    expect(unknown.headers['content-type']).toMatch(/^text\/plain/);
    expect(unknown.text).toBe('Unknown service ID "nobody". Ensure that the service ID is passed, not the service name.');

    const noCheck = await h.call('PUT', '/v1/agent/check/pass/service:nobody');
    expect(noCheck.status).toBe(404);
    expect(noCheck.text).toMatch(/^Unknown check ID "service:nobody"/);

    const badPort = await h.call('PUT', '/v1/agent/service/register', { json: { Name: 'bad', Port: 70000 } });
    expect(badPort.status).toBe(400);
    expect(badPort.text).toBe('Invalid port: port must be an integer from 1 to 65535; got 70000');

    const script = await h.call('PUT', '/v1/agent/service/register', { json: { Name: 'bad', Port: 80, Check: { Args: ['true'], Interval: '1s' } } });
    expect(script.status).toBe(400);
    expect(script.text).toMatch(/only TTL, HTTP \+ Interval and TCP \+ Interval checks are supported/);

    const badJson = await h.call('PUT', '/v1/agent/service/register', { raw: '{"Name":' });
    expect(badJson.status).toBe(400);
    expect(badJson.text).not.toMatch(/at |Error:/);
  });
});

describe('Consul compatibility with a token and CIDR rules', () => {
  let h: CompatHarness;
  beforeAll(async () => {
    h = await startCompat({ config: { admin: { token: 's3cret', allowedCidrs: ['127.0.0.0/8'] } } });
  });
  afterAll(async () => h?.close());

  const body = { Name: 'guarded', ID: 'g-1', Address: '127.0.0.1', Port: 9600 };

  it('takes the token as X-Consul-Token, ?token= or a bearer token, and answers 403 without it', async () => {
    const none = await h.call('PUT', '/v1/agent/service/register', { json: body });
    expect(none.status).toBe(403);
    expect(none.text).toBe('Permission denied: token not found or not allowed');
    expect((await h.call('PUT', '/v1/agent/service/register', { json: body, headers: { 'x-consul-token': 'nope' } })).status).toBe(403);
    expect((await h.call('PUT', '/v1/agent/service/register', { json: body, headers: { 'x-consul-token': 's3cret' } })).status).toBe(200);
    expect((await h.call('PUT', '/v1/agent/service/register?token=s3cret', { json: body })).status).toBe(200);
    expect((await h.call('PUT', '/v1/agent/service/register', { json: body, token: 's3cret' })).status).toBe(200);
    expect((await h.call('GET', '/v1/health/service/guarded')).body).toHaveLength(1);

    // The real client sends its token as X-Consul-Token.
    const consul = new Consul({ host: '127.0.0.1', port: String(h.port), defaults: { token: 's3cret' } });
    try {
      await consul.agent.service.deregister('g-1');
    } finally {
      consul.destroy();
    }
    expect((await h.call('GET', '/v1/health/service/guarded')).body).toEqual([]);
  });

  it('refuses an address outside admin.allowedCidrs with 403', async () => {
    const reply = await h.call('PUT', '/v1/agent/service/register', { json: { ...body, Address: '192.0.2.7' }, token: 's3cret' });
    expect(reply.status).toBe(403);
    expect(reply.text).toBe('host "192.0.2.7" is outside admin.allowedCidrs');
  });
});

describe('Consul catalog blocking queries', () => {
  it('wait for any registry change, count against admin.maxWaiters (429 beyond) and free their slot when the client leaves', async () => {
    const h = await startCompat({ config: { admin: { listen: '127.0.0.1:0', maxWaiters: 1 } } });
    try {
      const first = await h.call('GET', '/v1/catalog/services');
      const index = first.headers['x-consul-index'] as string;
      // A client that parks and leaves must not keep its slot.
      const gone = http.get({ host: '127.0.0.1', port: h.port, path: `/v1/catalog/services?index=${index}&wait=20s` });
      gone.on('error', () => {});
      await new Promise((resolve) => setTimeout(resolve, 100));
      gone.destroy();
      await new Promise((resolve) => setTimeout(resolve, 100));

      const parked = h.call('GET', `/v1/catalog/services?index=${index}&wait=20s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const refused = await h.call('GET', `/v1/catalog/services?index=${index}&wait=20s`);
      expect(refused.status).toBe(429);

      await h.store.register({ service: 'joined', id: 'j1', host: '127.0.0.1', port: 7100 });
      const answered = await parked;
      expect(answered.status).toBe(200);
      expect(answered.body).toMatchObject({ joined: [] });
      expect(Number(answered.headers['x-consul-index'])).toBeGreaterThan(Number(index));
    } finally {
      await h.close();
    }
  });
});

