/**
 * No proxy loop, whatever the spelling (issue 16 item 1). Two layers:
 * - registration: every spelling of the proxy's own address (inet_aton IPv4 forms,
 *   expanded and IPv4-mapped IPv6, localhost names) is refused with 403 on every
 *   registration path (native, Eureka, Consul);
 * - data path: a record that skipped those checks (written straight into the store, as a
 *   `--redis` sidecar can) loops once and is answered 508 `loop_detected` at once, with
 *   no fan-out of upstream connections; the admin API is never served through a proxy port.
 */
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { WaypostApp } from '../../src/app.js';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { createStore } from '../../src/registry/create-store.js';
import { MemoryStore } from '../../src/registry/memory-store.js';
import { StoreTarget } from '../../src/sidecar/store-target.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { startBackend, type Backend, type EchoReply } from '../helpers/backends.js';
import { startProxyProcess } from '../helpers/cli.js';
import { RedisServer } from '../helpers/redis-server.js';
import { call } from './admin-harness.js';
import { eventually } from './compat-harness.js';

const running: { stop(): Promise<unknown> }[] = [];

/** A whole proxy in this process (test/helpers/app.ts) with the Eureka and Consul APIs on. */
async function start(overrides: Partial<ConfigInput> = {}): Promise<{ app: WaypostApp; admin: number; http: number; plant: TestApp['register'] }> {
  const started = await startApp({ compat: { eureka: true, consul: true }, ...overrides });
  running.push(started);
  return { app: started.app, admin: started.app.addresses.admin.port, http: started.port, plant: started.register };
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((part) => part.stop()));
});

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  ms: number;
}

/** One request through the proxy on a fresh connection, timed; gives up after 5 s (a loop used to hang 20 s). */
function through(port: number, host: string, options: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders; body?: string } = {}): Promise<Answer> {
  const startedAt = performance.now();
  return new Promise((resolve, reject) => {
    const headers = { host, ...options.headers, ...(options.body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(options.body) }) };
    const req = http.request(
      { host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path ?? '/', headers, agent: false, signal: AbortSignal.timeout(5_000) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, ms: performance.now() - startedAt }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const openFds = (): number => readdirSync('/proc/self/fd').length;

/** Spellings of 127.0.0.1 (and of the local host) that a connect reaches the proxy's 127.0.0.1 listener by. */
const LOOPBACK_SPELLINGS = ['127.1', '2130706433', '0x7f.1', '0177.0.0.1', '0x7f000001', '0', '::ffff:7f00:1', '0:0:0:0:0:ffff:7f00:1', 'localhost', 'LOCALHOST'];
/**
 * Refused as well, though here they do not reach a 127.0.0.1 listener: ::1 is another
 * loopback address, and `*.localhost` is loopback by RFC 6761 (systemd-resolved answers it,
 * glibc alone does not).
 */
const OTHER_LOOPBACK = ['0:0:0:0:0:0:0:1', '[::1]', 'app.localhost'];

/** Debian's /etc/hosts alias; only on machines where it resolves. */
async function resolvableAliases(): Promise<string[]> {
  const { lookup } = await import('node:dns/promises');
  return (await lookup('ip6-localhost').then(() => true, () => false)) ? ['ip6-localhost'] : [];
}

describe('registration under every spelling of the own address', () => {
  it('refuses the HTTP and admin listeners with 403 on the native API', async () => {
    const { app, admin, http: proxyPort } = await start();
    const spellings = [...LOOPBACK_SPELLINGS, ...OTHER_LOOPBACK, ...(await resolvableAliases())];
    for (const port of [proxyPort, admin]) {
      for (const host of spellings) {
        const reply = await call(admin, 'POST', '/v1/services/loop/instances', { json: { host, port } });
        expect(reply.status, `${host}:${port}`).toBe(403);
        expect(reply.body, `${host}:${port}`).toMatchObject({ error: 'forbidden', field: 'port' });
      }
    }
    expect(await app.store.listServices()).toEqual([]);
  });

  it('refuses them on the Eureka and Consul APIs too', async () => {
    const { app, admin, http: proxyPort } = await start();
    for (const host of ['127.1', '2130706433', '::ffff:7f00:1']) {
      const eureka = await call(admin, 'POST', '/eureka/v2/apps/LOOP', {
        json: {
          instance: {
            app: 'LOOP',
            hostName: 'loop-a',
            ipAddr: host,
            port: { $: proxyPort, '@enabled': 'true' },
            dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
          },
        },
      });
      expect(eureka.status, `eureka ${host}`).toBe(403);
      const consul = await call(admin, 'PUT', '/v1/agent/service/register', { json: { Name: 'loop', ID: 'loop-1', Address: host, Port: admin } });
      expect(consul.status, `consul ${host}`).toBe(403);
    }
    expect(await app.store.listServices()).toEqual([]);
  });

  it('stores a numeric host canonical and another port of the same host as an ordinary backend', async () => {
    const { admin, http: proxyPort } = await start();
    const other = proxyPort === 65_535 ? proxyPort - 1 : proxyPort + 1;
    const reply = await call(admin, 'POST', '/v1/services/next-door/instances', { json: { host: '0x7f.1', port: other } });
    expect(reply.status).toBe(201);
    expect(reply.body.host).toBe('127.0.0.1');
  });
});

describe('a loop that skipped the registration checks', () => {
  it('answers 508 loop_detected within 1 s with the fds bounded, whatever the spelling', async () => {
    // Straight into the store (as a `--redis` sidecar or registrar can), skipping the registration checks.
    const { plant, http: proxyPort } = await start();
    for (const [index, host] of LOOPBACK_SPELLINGS.entries()) {
      const service = `loop-${index}`;
      await plant({ service, id: `${service}-1`, host, port: proxyPort });
      const before = openFds();
      const answer = await through(proxyPort, `${service}.localhost`);
      const grown = openFds() - before;
      expect(answer.status, host).toBe(508);
      expect(answer.headers['x-waypost-error'], host).toBe('loop_detected');
      expect(JSON.parse(answer.body), host).toMatchObject({ error: 'loop_detected' });
      expect(answer.ms, host).toBeLessThan(1_000);
      // One looped hop: a pooled upstream connection and its accepted end, not hundreds.
      expect(grown, host).toBeLessThanOrEqual(6);
    }
  });

  it('refuses GET and POST to the admin API through the proxy port, and stores nothing', async () => {
    const { app, plant, admin, http: proxyPort } = await start();
    await plant({ service: 'admin-loop', id: 'admin-1', host: '2130706433', port: admin });
    const read = await through(proxyPort, 'admin-loop.localhost', { path: '/v1/services' });
    expect(read.status).toBe(508);
    expect(JSON.parse(read.body)).toMatchObject({ error: 'loop_detected' });
    const write = await through(proxyPort, 'admin-loop.localhost', {
      method: 'POST',
      path: '/v1/services/evil/instances',
      body: JSON.stringify({ host: '10.0.0.66', port: 80 }),
    });
    expect(write.status).toBe(508);
    expect(await app.store.getService('evil')).toMatchObject({ instances: [] });
    // The admin port itself still answers, and so does an operator's reverse proxy in front of it (another Via).
    expect((await call(admin, 'GET', '/v1/services')).status).toBe(200);
    expect((await call(admin, 'GET', '/v1/services', { headers: { via: '1.1 nginx' } })).status).toBe(200);
    // Another Waypost proxy's data path (a shared registry: any proxy may route to this admin port) is refused too.
    const viaOther = await call(admin, 'GET', '/v1/services', { headers: { via: '1.1 nginx, 1.1 waypost-other (waypost)' } });
    expect(viaOther.status).toBe(508);
  });

  it('refuses a WebSocket upgrade that loops with 508', async () => {
    const { plant, http: proxyPort } = await start();
    await plant({ service: 'ws-loop', id: 'ws-1', host: '127.1', port: proxyPort });
    const head = await rawExchange(
      proxyPort,
      'GET / HTTP/1.1\r\nHost: ws-loop.localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    expect(head).toMatch(/^HTTP\/1\.1 508 Loop Detected\r\n/);
    expect(head).toMatch(/\r\nx-waypost-error: loop_detected\r\n/i);
  });
});

describe('the Via marker', () => {
  let backend: Backend;
  afterEach(async () => backend?.close());

  it("adds this proxy's hop after any Via the request carried, even if Connection names Via", async () => {
    backend = await startBackend();
    const { app, plant, http: proxyPort } = await start();
    await plant({ service: 'echo', id: 'echo-1', host: '127.0.0.1', port: backend.port });
    const plain = JSON.parse((await through(proxyPort, 'echo.localhost')).body) as EchoReply;
    expect(plain.headers.via).toBe(`1.1 ${app.proxyId} (waypost)`);
    const chained = JSON.parse((await through(proxyPort, 'echo.localhost', { headers: { via: '1.0 edge, 1.1 nginx', connection: 'via' } })).body) as EchoReply;
    expect(chained.headers.via).toBe(`1.0 edge, 1.1 nginx, 1.1 ${app.proxyId} (waypost)`);
  });

  it('answers 508 to a request naming this proxy or listing more than 16 hops, before routing', async () => {
    const { app, http: proxyPort } = await start();
    // No such service: a 404 would mean the request was routed first.
    const own = await through(proxyPort, 'nowhere.localhost', { headers: { via: `1.1 nginx, 1.1 ${app.proxyId}`, 'x-request-id': 'loop-1' } });
    expect(own.status).toBe(508);
    expect(own.headers['x-request-id']).toBe('loop-1');
    expect(JSON.parse(own.body)).toMatchObject({ error: 'loop_detected' });
    const hops = (n: number) => Array.from({ length: n }, (_, i) => `1.1 p${i}`).join(', ');
    expect((await through(proxyPort, 'nowhere.localhost', { headers: { via: hops(17) } })).status).toBe(508);
    expect((await through(proxyPort, 'nowhere.localhost', { headers: { via: hops(16) } })).status).toBe(404);
  });

  it('lets one proxy forward through another (distinct ids are no loop)', async () => {
    backend = await startBackend();
    const inner = await start();
    const outer = await start();
    expect(outer.app.proxyId).not.toBe(inner.app.proxyId);
    await inner.plant({ service: 'echo', id: 'echo-1', host: '127.0.0.1', port: backend.port });
    await outer.plant({ service: 'echo', id: 'inner', host: '127.0.0.1', port: inner.http });
    const answer = await through(outer.http, 'echo.localhost');
    expect(answer.status).toBe(200);
    expect((JSON.parse(answer.body) as EchoReply).headers.via).toBe(`1.1 ${outer.app.proxyId} (waypost), 1.1 ${inner.app.proxyId} (waypost)`);
  });

  it('takes a configured proxyId', async () => {
    const { app, http: proxyPort } = await start({ proxyId: 'edge-eu-1' });
    expect(app.proxyId).toBe('edge-eu-1');
    expect((await through(proxyPort, 'nowhere.localhost', { headers: { via: '1.1 edge-eu-1' } })).status).toBe(508);
  });
});

describe('sidecar and registrar writing to the store directly (--redis)', () => {
  it('store the host canonical and keep it inside admin.allowedCidrs', async () => {
    const store = new MemoryStore();
    const target = new StoreTarget(store, ['10.0.0.0/8']);
    running.push({ stop: () => target.close() });
    const record = await target.registerInstance({ service: 'orders', id: 'o-1', host: '0x0a.0.0.5', port: 80 });
    expect(record.host).toBe('10.0.0.5');
    await expect(target.registerInstance({ service: 'orders', id: 'o-2', host: '127.1', port: 80 })).rejects.toMatchObject({
      code: 'forbidden',
      message: 'host "127.0.0.1" is outside admin.allowedCidrs',
    });
    expect((await store.getService('orders')).instances.map((i) => i.id)).toEqual(['o-1']);
  });
});

describe('with --workers and a shared Redis registry (child processes)', () => {
  /** Open fds of a process and its children (the cluster workers). */
  function treeFds(pid: number): number {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return [pid, ...children].reduce((sum, p) => sum + readdirSync(`/proc/${p}/fd`).length, 0);
  }

  it('answers a planted loop 508 within 1 s from any worker, and never serves the admin API through a worker', async () => {
    const redis = await RedisServer.start();
    running.push(redis);
    const proxy = await startProxyProcess(['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--redis', redis.url, '--workers', '2', '--access-log', 'off'], {
      timeoutMs: 30_000,
    });
    running.push(proxy);
    const proxyPort = proxy.http[0]!.port;
    // Straight into Redis, as `waypost register --redis` could before this fix.
    const store = createStore(configSchema.parse({ redis: { url: redis.url } }), { logger: silentLogger });
    await store.start();
    running.push({ stop: () => store.close() });
    await store.register({ service: 'loop', id: 'loop-1', host: '2130706433', port: proxyPort });
    await store.register({ service: 'admin-loop', id: 'admin-1', host: '0x7f.1', port: proxy.admin.port });
    await eventually(async () => (await through(proxyPort, 'loop.localhost')).status !== 404, 10_000, 'loop routed');
    const before = treeFds(proxy.child.pid!);
    // Round-robin over the workers: the looped hop lands on the other worker half the time.
    for (let i = 0; i < 4; i++) {
      const answer = await through(proxyPort, 'loop.localhost');
      expect(answer.status).toBe(508);
      expect(answer.headers['x-waypost-error']).toBe('loop_detected');
      expect(answer.ms).toBeLessThan(1_000);
    }
    expect(treeFds(proxy.child.pid!) - before).toBeLessThanOrEqual(12);
    await eventually(async () => (await through(proxyPort, 'admin-loop.localhost', { path: '/healthz' })).status !== 404, 10_000, 'admin-loop routed');
    for (const method of ['GET', 'POST']) {
      const answer = await through(proxyPort, 'admin-loop.localhost', {
        method,
        path: method === 'GET' ? '/v1/services' : '/v1/services/evil/instances',
        ...(method === 'POST' ? { body: JSON.stringify({ host: '10.0.0.66', port: 80 }) } : {}),
      });
      expect(answer.status, method).toBe(508);
      expect(JSON.parse(answer.body), method).toMatchObject({ error: 'loop_detected' });
    }
    expect((await store.getService('evil')).instances).toEqual([]);
  }, 90_000);
});

/** Sends raw bytes and returns what comes back until the server closes (upgrade answers close). */
function rawExchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
    socket.setTimeout(5_000, () => socket.destroy(new Error(`no answer in 5 s; got ${JSON.stringify(text)}`)));
  });
}
