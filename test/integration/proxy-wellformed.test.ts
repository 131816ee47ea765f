/**
 * What the proxy forwards is well-formed (RFC 9112 §3.2, RFC 9110 §15): an
 * absolute-form request target goes upstream in origin-form, an ambiguous Host
 * is refused before routing, and an upstream status outside 100–599 becomes a
 * 502. Raw sockets on both sides, since node:http clients and servers would not
 * send these requests and answers at all.
 */
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type Backend, type EchoReply } from '../helpers/backends.js';
import { SERVINGS, startProxy, type ProxyHarness } from './proxy-harness.js';

interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends `head` as is on a fresh connection and reads the answer until the proxy closes it. */
function rawRequest(port: number, head: string): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(head));
    const chunks: Buffer[] = [];
    socket.setTimeout(5_000, () => socket.destroy(new Error('no answer within 5 s')));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const body = text.slice(split + 4);
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: headers['transfer-encoding'] === 'chunked' ? unchunk(body) : body });
    });
  });
}

/** The payload of a complete chunked body. */
function unchunk(body: string): string {
  let out = '';
  for (let at = 0; ; ) {
    const lineEnd = body.indexOf('\r\n', at);
    const size = parseInt(body.slice(at, lineEnd), 16);
    if (!(size > 0)) return out;
    out += body.slice(lineEnd + 2, lineEnd + 2 + size);
    at = lineEnd + 2 + size + 2;
  }
}

/** An upstream that answers every request with `statusLine` verbatim, as no node:http server would. */
async function startRawUpstream(statusLine: string): Promise<{ address: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.once('data', () => socket.end(`${statusLine}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe.each(SERVINGS)('well-formed forwarding with the $label', (serving) => {
  const engine = serving.engine;
  let backend: Backend;
  let proxy: ProxyHarness | undefined;

  beforeAll(async () => {
    backend = await startBackend({ name: 'a' });
  });
  afterAll(() => backend.close());
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
  });

  const startOrders = async () => {
    proxy = await startProxy(serving, [{ host: 'orders.test', service: 'orders', targets: [backend.address], retries: 0 }]);
    return proxy.port;
  };

  it('forwards an absolute-form request target in origin-form', async () => {
    const port = await startOrders();
    const reply = await rawRequest(port, 'GET http://orders.test/v1/items?x=1 HTTP/1.1\r\nHost: orders.test\r\nConnection: close\r\n\r\n');
    expect(reply.status).toBe(200);
    const echo = JSON.parse(reply.body) as EchoReply;
    expect(echo.url).toBe('/v1/items?x=1');
    expect(echo.headers.host).toBe('orders.test');
  });

  it('routes an absolute-form HTTP/1.0 request without Host by the URI authority', async () => {
    const port = await startOrders();
    const reply = await rawRequest(port, 'GET http://orders.test:80/a HTTP/1.0\r\n\r\n');
    expect(reply.status).toBe(200);
    expect((JSON.parse(reply.body) as EchoReply).url).toBe('/a');
  });

  it.each([
    ['two Host headers', 'GET /a HTTP/1.1\r\nHost: orders.test\r\nHost: evil.test\r\nConnection: close\r\n\r\n', 'bad_host'],
    ['a Host that differs from the absolute URI authority', 'GET http://evil.test/a HTTP/1.1\r\nHost: orders.test\r\nConnection: close\r\n\r\n', 'bad_host'],
    ['user info in the absolute URI', 'GET http://u:p@orders.test/a HTTP/1.1\r\nHost: orders.test\r\nConnection: close\r\n\r\n', 'bad_request_target'],
    ['a WebSocket upgrade with two Host headers',
      'GET /ws HTTP/1.1\r\nHost: orders.test\r\nHost: evil.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n', 'bad_host'],
  ])('answers %s with a proxy-made 400 and forwards nothing', async (_name, head, code) => {
    const port = await startOrders();
    const before = backend.requests;
    const reply = await rawRequest(port, head);
    expect(reply.status).toBe(400);
    expect(reply.headers['x-waypost-error']).toBe(code);
    expect(reply.headers['content-type']).toBe('application/json');
    expect(reply.headers['x-request-id']).toMatch(/^[0-9a-f]+-[0-9a-z]+$/);
    expect(JSON.parse(reply.body)).toMatchObject({ error: code });
    expect(backend.requests).toBe(before);
  });

  it.each(['HTTP/1.1 999 Odd', 'HTTP/1.1 600 Odd', 'HTTP/1.1 99 Odd'])('answers an upstream "%s" with 502 upstream_failed', async (statusLine) => {
    const upstream = await startRawUpstream(statusLine);
    try {
      proxy = await startProxy(serving, [{ host: 'odd.test', service: 'odd', targets: [upstream.address], retries: 0 }]);
      const reply = await rawRequest(proxy.port, 'GET /x HTTP/1.1\r\nHost: odd.test\r\nConnection: close\r\n\r\n');
      expect(reply.status).toBe(502);
      expect(reply.headers['x-waypost-error']).toBe('upstream_failed');
    } finally {
      await upstream.close();
    }
  });

  it('passes the edge status 599 through', async () => {
    const upstream = await startRawUpstream('HTTP/1.1 599 Edge');
    try {
      proxy = await startProxy(serving, [{ host: 'odd.test', service: 'odd', targets: [upstream.address], retries: 0 }]);
      const reply = await rawRequest(proxy.port, 'GET /x HTTP/1.1\r\nHost: odd.test\r\nConnection: close\r\n\r\n');
      expect(reply.status).toBe(599);
      expect(reply.body).toBe('hi');
    } finally {
      await upstream.close();
    }
  });
});
