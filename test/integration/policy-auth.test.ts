/**
 * forward-auth end to end: a whole Waypost (test/helpers/app.ts) in front of a
 * real echo backend, asking a real auth server — by fixed URL or as a registered
 * service — on each HTTP engine.
 */
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { startBackend, type Backend, type EchoReply } from '../helpers/backends.js';
import { deadPort } from '../helpers/ports.js';
import { ENGINES, json, request } from './proxy-harness.js';

/**
 * The auth server: `authorization: Bearer alice` → 200 with x-user-id, `Bearer slow` → answers
 * after 5 s, anything else → 401 (or 302 to the login page for browsers asking text/html).
 */
interface AuthServer {
  readonly port: number;
  readonly asked: http.IncomingHttpHeaders[];
  close(): Promise<void>;
}

async function startAuthServer(): Promise<AuthServer> {
  const asked: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    asked.push(req.headers);
    const token = req.headers.authorization;
    if (token === 'Bearer alice') return res.writeHead(200, { 'x-user-id': 'alice', 'x-user-role': 'buyer' }).end();
    if (token === 'Bearer slow') return void setTimeout(() => res.writeHead(200).end(), 5000).unref();
    if (req.headers.accept === 'text/html') return res.writeHead(302, { location: `https://login.test/?next=${req.headers['x-forwarded-uri']}` }).end();
    res.writeHead(401, { 'www-authenticate': 'Bearer realm="shop"', 'content-type': 'application/json' }).end('{"error":"who are you?"}');
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    asked,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe.each(ENGINES)('forward-auth through the proxy (%s engine)', (engine) => {
  let backend: Backend;
  let auth: AuthServer;
  let app: TestApp | undefined;

  beforeAll(async () => {
    backend = await startBackend({ name: 'shop' });
    auth = await startAuthServer();
  });
  afterEach(async () => {
    await app?.stop();
    app = undefined;
  });
  afterAll(async () => {
    await backend.close();
    await auth.close();
  });

  async function start(authKey: Record<string, unknown>, overrides: Partial<ConfigInput> = {}): Promise<TestApp> {
    app = await startApp({ engine, routes: [{ host: 'shop.test', service: 'shop', auth: authKey }], ...overrides });
    await app.register({ service: 'shop', host: '127.0.0.1', port: backend.port });
    return app;
  }

  it('lets an allowed request through with the auth answer’s headers, replacing what the client sent', async () => {
    const { port } = await start({ url: `http://127.0.0.1:${auth.port}/verify`, copyHeaders: ['x-user-id', 'x-tenant'] });
    const body = 'x'.repeat(10_000);
    const reply = await request(port, {
      host: 'shop.test',
      path: '/orders?page=2',
      method: 'POST',
      headers: { authorization: 'Bearer alice', 'x-user-id': 'mallory', 'x-tenant': 'evil', 'x-request-id': 'auth-test-1' },
      body,
    });
    expect(reply.status).toBe(200);
    const echo = json<EchoReply>(reply);
    expect(echo.headers['x-user-id']).toBe('alice');
    // Named in copyHeaders but absent from the answer: the client's value is still removed.
    expect(echo.headers['x-tenant']).toBeUndefined();
    // Not named: not copied.
    expect(echo.headers['x-user-role']).toBeUndefined();
    expect(echo.bodyBytes).toBe(body.length);
    expect(echo.url).toBe('/orders?page=2');
    const asked = auth.asked.at(-1)!;
    expect(asked).toMatchObject({
      'x-forwarded-method': 'POST',
      'x-forwarded-uri': '/orders?page=2',
      'x-forwarded-host': 'shop.test',
      'x-forwarded-proto': 'http',
      'x-forwarded-for': '127.0.0.1',
      'x-request-id': 'auth-test-1',
    });
    expect(asked['content-length']).toBeUndefined();
    expect(asked.via).toMatch(/\(waypost\)/);
  });

  it('returns a denial as the auth service gave it (401 with WWW-Authenticate, 302 to a login page); the backend is never asked', async () => {
    const { port } = await start({ url: `http://127.0.0.1:${auth.port}/verify` });
    const before = backend.requests;
    const denied = await request(port, { host: 'shop.test', path: '/orders', method: 'POST', body: 'payload' });
    expect(denied.status).toBe(401);
    expect(denied.headers['www-authenticate']).toBe('Bearer realm="shop"');
    expect(denied.headers['content-type']).toBe('application/json');
    expect(denied.body.toString()).toBe('{"error":"who are you?"}');
    expect(denied.headers['x-request-id']).toBeTruthy();
    const login = await request(port, { host: 'shop.test', path: '/account', headers: { accept: 'text/html' } });
    expect(login.status).toBe(302);
    expect(login.headers.location).toBe('https://login.test/?next=/account');
    expect(backend.requests).toBe(before);
  });

  it('answers 503 auth_unavailable when the auth service is down, never reaching the backend', async () => {
    const { port } = await start({ url: `http://127.0.0.1:${await deadPort()}/verify` });
    const before = backend.requests;
    const reply = await request(port, { host: 'shop.test', headers: { authorization: 'Bearer alice' } });
    expect(reply.status).toBe(503);
    expect(reply.headers['x-waypost-error']).toBe('auth_unavailable');
    expect(backend.requests).toBe(before);
  });

  it('answers 503 when the auth service does not answer within the timeout', async () => {
    const { port } = await start({ url: `http://127.0.0.1:${auth.port}/verify`, timeout: '300ms' });
    const before = backend.requests;
    const reply = await request(port, { host: 'shop.test', headers: { authorization: 'Bearer slow' } });
    expect(reply.status).toBe(503);
    expect(json(reply).error).toBe('auth_unavailable');
    expect(backend.requests).toBe(before);
  });

  it('asks a registered auth service balanced over its instances: a dead instance is passed over', async () => {
    const started = await start({ service: 'auth', path: '/verify', copyHeaders: ['x-user-id'] });
    await started.register({ service: 'auth', id: 'dead', host: '127.0.0.1', port: await deadPort() });
    await started.register({ service: 'auth', id: 'live', host: '127.0.0.1', port: auth.port });
    for (let i = 0; i < 10; i++) {
      const reply = await request(started.port, { host: 'shop.test', headers: { authorization: 'Bearer alice' } });
      expect(reply.status).toBe(200);
      expect(json<EchoReply>(reply).headers['x-user-id']).toBe('alice');
    }
    const metrics = await started.app.metrics.text();
    expect(metrics).toMatch(/waypost_auth_requests_total\{service="shop",result="allowed"\} 10/);
  });

  it('answers 503 when the registered auth service has no instance', async () => {
    const { port } = await start({ service: 'auth-nobody' });
    const reply = await request(port, { host: 'shop.test', headers: { authorization: 'Bearer alice' } });
    expect(reply.status).toBe(503);
    expect(reply.headers['x-waypost-error']).toBe('auth_unavailable');
  });
});

describe('forward-auth for an HTTP/2 client (h2c listener)', () => {
  it('asks without pseudo-headers, with :authority as X-Forwarded-Host, and copies the answer’s headers', async () => {
    const backend = await startBackend({ name: 'shop' });
    const auth = await startAuthServer();
    const app = await startApp({
      listen: [{ address: '127.0.0.1:0', protocols: ['h2c'] }] as never,
      routes: [{ host: 'shop.test', service: 'shop', auth: { url: `http://127.0.0.1:${auth.port}/verify`, copyHeaders: ['x-user-id'] } }],
    });
    const session = http2.connect(`http://127.0.0.1:${app.port}`);
    try {
      await app.register({ service: 'shop', host: '127.0.0.1', port: backend.port });
      const ask = (authorization: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const stream = session.request({ ':path': '/cart?a=1', ':authority': 'shop.test', authorization, 'x-user-id': 'mallory' });
          let status = 0;
          let body = '';
          stream.on('response', (headers) => (status = Number(headers[':status'])));
          stream.on('data', (chunk: Buffer) => (body += chunk.toString()));
          stream.on('end', () => resolve({ status, body }));
          stream.on('error', reject);
          stream.end();
        });
      const allowed = await ask('Bearer alice');
      expect(allowed.status).toBe(200);
      expect((JSON.parse(allowed.body) as EchoReply).headers['x-user-id']).toBe('alice');
      const asked = auth.asked.at(-1)!;
      expect(Object.keys(asked).filter((name) => name.startsWith(':'))).toEqual([]);
      expect(asked).toMatchObject({ 'x-forwarded-host': 'shop.test', 'x-forwarded-uri': '/cart?a=1', 'x-forwarded-method': 'GET' });
      const denied = await ask('Bearer nobody');
      expect(denied.status).toBe(401);
      expect(denied.body).toBe('{"error":"who are you?"}');
    } finally {
      session.close();
      await app.stop();
      await backend.close();
      await auth.close();
    }
  });
});
