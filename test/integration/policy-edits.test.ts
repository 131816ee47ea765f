/**
 * Header edits, rewrites, redirects and CORS (issue 18 items 4, 5, 7) end to end: a whole
 * Waypost in this process (real config, route table and listeners), a real echo backend,
 * both HTTP/1.1 engines, and HTTP/2 clients where the listener-level redirect differs.
 */
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { startBackend, type Backend, type EchoReply } from '../helpers/backends.js';
import { ENGINES, json, request } from './proxy-harness.js';

const routes: ConfigInput['routes'] = [
  {
    host: 'headers.test',
    service: 'echo',
    requestHeaders: {
      set: { 'x-client': '{client_ip}', 'x-upstream': '{instance}', 'x-via-route': '{service}@{host}' },
      add: { 'x-tag': ['one', 'two'] },
      remove: ['x-debug'],
    },
    responseHeaders: { set: { 'x-frame-options': 'DENY' }, add: { 'x-served-by': '{instance}' }, remove: ['x-backend'] },
  },
  { host: 'rewrite.test', path: '/api', stripPrefix: true, service: 'echo', rewrite: { prefix: { from: '/v1', to: '/v2' } } },
  { host: 'regex.test', service: 'echo', rewrite: { regex: '^/users/(\\d+)$', replacement: '/profiles/$1' } },
  { host: 'secure.test', service: 'echo', redirect: 'https' },
  { host: 'moved.test', service: 'echo', redirect: { to: 'https://new.test/v2{path}?{query}', status: 308 } },
  {
    host: 'cors.test',
    service: 'echo',
    cors: { origins: ['https://app.example.com', 'https://*.cors.example'], exposeHeaders: ['x-backend'], credentials: true, maxAge: '2m' },
  },
];

describe.each(ENGINES)('route policy edits through the proxy (engine %s)', (engine) => {
  let backend: Backend;
  let proxy: TestApp;
  let redirectPort: number;

  beforeAll(async () => {
    backend = await startBackend({ name: 'echo-1' });
    proxy = await startApp({ engine, routes, listen: [{ address: '127.0.0.1:0' }, { address: '127.0.0.1:0', redirect: 'https' }] });
    redirectPort = proxy.app.addresses.http[1]!.port;
    await proxy.register({ service: 'echo', id: 'e1', host: '127.0.0.1', port: backend.port });
  });

  afterAll(async () => {
    await proxy.stop();
    await backend.close();
  });

  it('edits request headers before forwarding ({instance} per attempt) and response headers before answering', async () => {
    const reply = await request(proxy.port, { host: 'headers.test', headers: { 'x-debug': '1', 'x-tag': 'client', connection: 'x-client' } });
    expect(reply.status).toBe(200);
    const seen = json<EchoReply>(reply).headers;
    expect(seen['x-client']).toBe('127.0.0.1');
    expect(seen['x-upstream']).toBe(backend.address);
    expect(seen['x-via-route']).toBe('echo@headers.test');
    expect(seen['x-tag']).toBe('client, one, two');
    expect(seen['x-debug']).toBeUndefined();
    // The proxy's own fields are still the proxy's.
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    expect(reply.headers['x-frame-options']).toBe('DENY');
    expect(reply.headers['x-served-by']).toBe(backend.address);
    expect(reply.headers['x-backend']).toBeUndefined();
  });

  it('strips the prefix first, then rewrites on segment boundaries, keeping the query', async () => {
    const moved = json<EchoReply>(await request(proxy.port, { host: 'rewrite.test', path: '/api/v1/orders?id=7' }));
    expect(moved.url).toBe('/v2/orders?id=7');
    const kept = json<EchoReply>(await request(proxy.port, { host: 'rewrite.test', path: '/api/v10/orders' }));
    expect(kept.url).toBe('/v10/orders');
    const regex = json<EchoReply>(await request(proxy.port, { host: 'regex.test', path: '/users/42?full=1' }));
    expect(regex.url).toBe('/profiles/42?full=1');
  });

  it('redirects to https per route, 301 for GET and 308 for POST, without reaching the upstream', async () => {
    const before = backend.requests;
    const get = await request(proxy.port, { host: 'secure.test', path: '/cart?x=1' });
    expect(get.status).toBe(301);
    expect(get.headers.location).toBe('https://secure.test/cart?x=1');
    expect(get.headers['x-request-id']).toBeTruthy();
    const post = await request(proxy.port, { host: 'secure.test', method: 'POST', path: '/pay', body: 'card=1' });
    expect(post.status).toBe(308);
    const moved = await request(proxy.port, { host: 'moved.test', path: '/a/b?c=d' });
    expect(moved.status).toBe(308);
    expect(moved.headers.location).toBe('https://new.test/v2/a/b?c=d');
    expect(backend.requests).toBe(before);
  });

  it('redirects every request of a listener with redirect: https before routing, HTTP/2 included', async () => {
    const reply = await request(redirectPort, { host: 'unrouted.test:8080', path: '/x?y=1' });
    expect(reply.status).toBe(301);
    expect(reply.headers.location).toBe('https://unrouted.test/x?y=1');
    const bad = await request(redirectPort, { host: 'evil.test/phish' });
    expect(bad.status).toBe(400);
    expect(bad.headers.location).toBeUndefined();

    const session = http2.connect(`http://127.0.0.1:${redirectPort}`);
    try {
      const stream = session.request({ ':path': '/h2', ':authority': 'h2.test', ':method': 'DELETE' });
      const head = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        stream.once('response', resolve);
        stream.once('error', reject);
      });
      stream.resume();
      expect(head[':status']).toBe(308);
      expect(head.location).toBe('https://h2.test/h2');
    } finally {
      session.close();
    }
  });

  it('answers CORS preflights itself and adds CORS headers for matching origins only', async () => {
    const before = backend.requests;
    const preflight = await request(proxy.port, {
      host: 'cors.test',
      method: 'OPTIONS',
      headers: { origin: 'https://a.cors.example', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers).toMatchObject({
      'access-control-allow-origin': 'https://a.cors.example',
      'access-control-allow-credentials': 'true',
      'access-control-allow-headers': 'content-type',
      'access-control-max-age': '120',
      vary: 'Origin',
    });
    const refused = await request(proxy.port, {
      host: 'cors.test',
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'PUT' },
    });
    expect(refused.status).toBe(204);
    expect(refused.headers['access-control-allow-origin']).toBeUndefined();
    expect(backend.requests).toBe(before);

    const actual = await request(proxy.port, { host: 'cors.test', headers: { origin: 'https://app.example.com' } });
    expect(actual.status).toBe(200);
    expect(actual.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(actual.headers['access-control-expose-headers']).toBe('x-backend');
    expect(actual.headers.vary).toBe('Origin');
    const other = await request(proxy.port, { host: 'cors.test', headers: { origin: 'https://evil.example' } });
    expect(other.status).toBe(200);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });
});
