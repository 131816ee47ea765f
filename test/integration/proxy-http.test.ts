import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, pattern, type Backend, type EchoReply } from '../helpers/backends.js';
import { deadPort } from '../helpers/ports.js';
import { SERVINGS, json, request, startProxy, type ProxyHarness } from './proxy-harness.js';

describe.each(SERVINGS)('the HTTP proxy with the $label', (serving) => {
  const engine = serving.engine;
  let a: Backend;
  let b: Backend;
  let dead: number;
  let proxy: ProxyHarness | undefined;

  beforeAll(async () => {
    a = await startBackend({ name: 'a' });
    b = await startBackend({ name: 'b' });
    dead = await deadPort();
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
  });

  it('sets X-Forwarded-*, strips hop-by-hop headers both ways and keeps a valid client request id', async () => {
    proxy = await startProxy(serving, [{ host: 'orders.test', service: 'orders', targets: [a.address] }]);
    const reply = await request(proxy.port, {
      host: 'orders.test:8080',
      path: '/v1/items?x=1',
      headers: {
        'x-request-id': 'client-id.42',
        'x-forwarded-for': '203.0.113.9',
        connection: 'keep-alive, x-secret',
        'x-secret': 'hop',
        'keep-alive': 'timeout=9',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
        te: 'trailers',
      },
    });
    expect(reply.status).toBe(200);
    const echo = json<EchoReply>(reply);
    expect(echo.url).toBe('/v1/items?x=1');
    // The peer is not a trusted proxy: its X-Forwarded-For is replaced.
    expect(echo.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(echo.headers['x-forwarded-proto']).toBe('http');
    expect(echo.headers['x-forwarded-host']).toBe('orders.test:8080');
    expect(echo.headers['x-request-id']).toBe('client-id.42');
    expect(echo.headers.host).toBe('orders.test:8080');
    for (const name of ['x-secret', 'keep-alive', 'proxy-authorization', 'te']) expect(echo.headers[name]).toBeUndefined();
    expect(reply.headers['x-request-id']).toBe('client-id.42');
    expect(reply.headers['x-backend']).toBe('a');
    expect(reply.headers['x-hop']).toBeUndefined();
    expect(reply.headers['keep-alive']).not.toBe('timeout=77');
  });

  it('appends to X-Forwarded-For from a trusted proxy and generates a request id for an invalid one', async () => {
    proxy = await startProxy(serving, [{ host: 'orders.test', service: 'orders', targets: [a.address] }], {
      trustedProxies: ['127.0.0.0/8'],
    });
    const reply = await request(proxy.port, {
      host: 'orders.test',
      headers: { 'x-request-id': 'bad id with spaces', 'x-forwarded-for': '203.0.113.9' },
    });
    const echo = json<EchoReply>(reply);
    expect(echo.headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    const generated = reply.headers['x-request-id'] as string;
    expect(generated).toMatch(/^[0-9a-f]{12}-[0-9a-z]+$/);
    expect(echo.headers['x-request-id']).toBe(generated);
    const second = await request(proxy.port, { host: 'orders.test' });
    expect(second.headers['x-request-id']).not.toBe(generated);
  });

  it('streams a 5 MiB body up and a 5 MiB body down byte-exact', async () => {
    proxy = await startProxy(serving, [{ host: 'orders.test', service: 'orders', targets: [a.address] }]);
    const size = 5 * 1024 * 1024;
    const up = pattern(size);
    const echoed = await request(proxy.port, {
      host: 'orders.test',
      method: 'POST',
      headers: { 'x-test': 'echo-body', 'content-length': size },
      body: up,
    });
    expect(echoed.status).toBe(200);
    expect(echoed.body.length).toBe(size);
    expect(echoed.body.equals(up)).toBe(true);
    const down = await request(proxy.port, { host: 'orders.test', headers: { 'x-test': `big=${size}` } });
    expect(down.body.length).toBe(size);
    expect(createHash('sha256').update(down.body).digest('hex')).toBe(
      createHash('sha256').update(pattern(size)).digest('hex'),
    );
  });

  it('retries a refused connection on another instance', async () => {
    proxy = await startProxy(serving, [{ host: 'orders.test', service: 'orders', targets: [`127.0.0.1:${dead}`, a.address] }]);
    const reply = await request(proxy.port, { host: 'orders.test' });
    expect(reply.status).toBe(200);
    expect(json<EchoReply>(reply).backend).toBe('a');
    const entry = proxy.accessLog.at(-1)!;
    expect(entry.retries).toBe(1);
    expect(entry.instance).toBe('orders/orders-1');
    const text = await proxy.metrics.text();
    expect(text).toContain('waypost_retries_total{service="orders"} 1');
    expect(text).toContain('waypost_upstream_errors_total{service="orders",reason="connect_refused"} 1');
  });

  it('retries a small buffered POST and the body arrives intact', async () => {
    proxy = await startProxy(serving, [{ host: 'orders.test', service: 'orders', targets: [`127.0.0.1:${dead}`, a.address] }]);
    const body = Buffer.from('{"order":1}');
    const reply = await request(proxy.port, { host: 'orders.test', method: 'POST', body, headers: { 'content-length': body.length } });
    expect(reply.status).toBe(200);
    const echo = json<EchoReply>(reply);
    expect(echo.bodyBytes).toBe(body.length);
    expect(echo.bodySha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(proxy.accessLog.at(-1)!.retries).toBe(1);
  });

  // A streamed body can be sent again only while no byte of it was read. undici reads the body
  // once connected, so a refused connect leaves it whole and another instance gets it; http-proxy
  // starts piping the body before it connects, so its failed attempt has consumed some: 502.
  it('retries a streamed POST larger than the retry buffer only while no byte of its body was read', async () => {
    proxy = await startProxy(
      serving,
      [{ host: 'orders.test', service: 'orders', targets: [`127.0.0.1:${dead}`, a.address] }],
      { limits: { retryBufferBytes: 1024 } },
    );
    const body = pattern(64 * 1024);
    const reply = await request(proxy.port, { host: 'orders.test', method: 'POST', body, headers: { 'content-length': body.length } });
    if (engine === 'undici') {
      expect(reply.status).toBe(200);
      expect(proxy.accessLog.at(-1)!.retries).toBe(1);
      return;
    }
    expect(reply.status).toBe(502);
    expect(reply.headers['x-waypost-error']).toBe('upstream_failed');
    expect(json(reply)).toEqual({ error: 'upstream_failed', message: 'The upstream instance could not be reached or failed to answer.' });
    expect(proxy.accessLog.at(-1)!.retries).toBe(0);
    expect(proxy.accessLog.at(-1)!.error).toBe('connect_refused');
  });

  it('answers 504 when the backend is slower than the header timeout', async () => {
    proxy = await startProxy(serving, [
      { host: 'orders.test', service: 'orders', targets: [a.address], timeouts: { header: 200 } },
    ]);
    const reply = await request(proxy.port, { host: 'orders.test', headers: { 'x-test': 'slow=1500' } });
    expect(reply.status).toBe(504);
    expect(reply.headers['x-waypost-error']).toBe('upstream_timeout');
    expect(proxy.accessLog.at(-1)!.error).toBe('header_timeout');
    expect(await proxy.metrics.text()).toContain('waypost_upstream_errors_total{service="orders",reason="header_timeout"} 1');
  });

  it('answers 503 with Retry-After when the route has no endpoints', async () => {
    proxy = await startProxy(serving, [{ host: 'orders.test', service: 'orders', targets: [] }]);
    const reply = await request(proxy.port, { host: 'orders.test' });
    expect(reply.status).toBe(503);
    expect(reply.headers['retry-after']).toBe('1');
    expect(reply.headers['x-waypost-error']).toBe('no_healthy_instance');
    expect(json(reply).error).toBe('no_healthy_instance');
  });

  it('answers 404 with x-waypost-error for an unknown host', async () => {
    proxy = await startProxy(serving, [{ host: 'orders.test', service: 'orders', targets: [a.address] }]);
    const reply = await request(proxy.port, { host: 'nothing.test', path: '/x' });
    expect(reply.status).toBe(404);
    expect(reply.headers['x-waypost-error']).toBe('no_route');
    expect(json(reply)).toEqual({ error: 'no_route', message: 'No route matches this host and path.' });
    expect(reply.headers['x-request-id']).toBeTruthy();
  });

  it('answers 431 to oversized request headers', async () => {
    proxy = await startProxy(serving, [{ host: 'orders.test', service: 'orders', targets: [a.address] }], {
      limits: { maxHeaderBytes: 2048 },
    });
    const reply = await request(proxy.port, { host: 'orders.test', headers: { 'x-big': 'y'.repeat(4096) } });
    expect(reply.status).toBe(431);
    expect(reply.headers['x-waypost-error']).toBe('headers_too_large');
    expect(a.requests).toBeGreaterThanOrEqual(0);
  });

  it('answers 413 to a body over maxBodyBytes, declared or chunked', async () => {
    proxy = await startProxy(serving, [{ host: 'orders.test', service: 'orders', targets: [a.address] }], {
      limits: { maxBodyBytes: 1000 },
    });
    const declared = await request(proxy.port, { host: 'orders.test', method: 'POST', body: pattern(5000) });
    expect(declared.status).toBe(413);
    expect(declared.headers['x-waypost-error']).toBe('body_too_large');

    const chunked = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: proxy!.port, method: 'POST', headers: { host: 'orders.test', 'x-test': 'slow=2000' }, agent: false },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      Readable.from([pattern(600), pattern(600), pattern(600)]).pipe(req);
    });
    expect(chunked).toBe(413);
  });

  it('streams a chunked body under maxBodyBytes to the upstream intact', async () => {
    proxy = await startProxy(serving, [{ host: 'orders.test', service: 'orders', targets: [a.address] }], {
      limits: { maxBodyBytes: 100_000 },
    });
    const parts = [pattern(20_000), pattern(30_000), pattern(25_000)];
    const sent = Buffer.concat(parts);
    const echoed = await new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: proxy!.port, method: 'POST', headers: { host: 'orders.test', 'x-test': 'echo-body' }, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        },
      );
      req.on('error', reject);
      Readable.from(parts).pipe(req);
    });
    expect(echoed.status).toBe(200);
    expect(echoed.body.length).toBe(sent.length);
    expect(echoed.body.equals(sent)).toBe(true);
  });

  it('answers 408 when the request headers arrive too slowly', async () => {
    proxy = await startProxy(serving, [{ host: 'orders.test', service: 'orders', targets: [a.address] }], {
      limits: { headersTimeout: '300ms' },
    });
    const socket = net.connect(proxy.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.write('GET / HTTP/1.1\r\nhost: orders.test\r\n');
    const timer = setInterval(() => socket.writable && socket.write('x-slow: 1\r\n'), 100);
    await new Promise((resolve) => socket.once('close', resolve));
    clearInterval(timer);
    const text = Buffer.concat(chunks).toString();
    expect(text.startsWith('HTTP/1.1 408 ')).toBe(true);
    expect(text).toContain('x-waypost-error: request_timeout');
  });

  it('lets a request in flight finish during a graceful close', async () => {
    proxy = await startProxy(serving, [{ host: 'orders.test', service: 'orders', targets: [a.address] }]);
    const pending = request(proxy.port, { host: 'orders.test', headers: { 'x-test': 'slow=300' } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closed = proxy.close(5_000);
    const reply = await pending;
    await closed;
    expect(reply.status).toBe(200);
    await expect(request(proxy.port, { host: 'orders.test' })).rejects.toThrow(/ECONNREFUSED/);
  });

  it('counts requests and upstream errors with bounded labels', async () => {
    proxy = await startProxy(serving, [
      { host: 'orders.test', service: 'orders', targets: [a.address] },
      { host: 'dead.test', service: 'dead', targets: [`127.0.0.1:${dead}`], retries: 0 },
    ]);
    await request(proxy.port, { host: 'orders.test' });
    await request(proxy.port, { host: 'dead.test' });
    const before = (await proxy.metrics.text()).split('\n').length;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        new Promise<void>((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port: proxy!.port, path: `/p/${i}?q=${i}`, headers: { host: `h${i}.unknown` }, agent }, (res) => {
              res.resume();
              res.on('end', resolve);
            })
            .on('error', reject);
        }),
      ),
    );
    agent.destroy();
    const text = await proxy.metrics.text();
    expect(text).toContain('waypost_requests_total{service="orders",code="200"} 1');
    expect(text).toContain('waypost_requests_total{service="dead",code="502"} 1');
    expect(text).toContain('waypost_upstream_errors_total{service="dead",reason="connect_refused"} 1');
    expect(text).toContain('waypost_requests_total{service="_unrouted",code="404"} 1000');
    // 1,000 distinct unknown hosts and paths add no series beyond the first _unrouted ones.
    expect(text.split('\n').length - before).toBeLessThan(30);
    expect(text).not.toContain('unknown');
  });
});
