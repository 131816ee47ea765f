/**
 * The raw engine's upstream timeouts are deadlines, not socket inactivity timers
 * (src/proxy/engines/raw-connection.ts): the response-header timeout counts from the request
 * sent, so head bytes that trickle in do not stretch it, while a streamed upload that still
 * moves does. The engine contract (test/contract/engine.contract.ts) covers the plain cases for
 * every engine.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startProxy, type ProxyHarness } from './proxy-harness.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Upstream {
  address: string;
  close(): Promise<void>;
}

async function listen(server: net.Server, sockets: Set<net.Socket>): Promise<Upstream> {
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Answers each request with a head one byte every 50 ms (for at most 3 s, then the rest at once). */
function tricklingUpstream(): Promise<Upstream> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => {
      socket.write('HTTP/1.1 200 OK\r\nX-Slow: ');
      let sent = 0;
      const timer = setInterval(() => {
        if (socket.destroyed) return clearInterval(timer);
        if (++sent < 60) socket.write('a');
        else {
          clearInterval(timer);
          socket.end('\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
        }
      }, 50);
    });
  });
  return listen(server, sockets);
}

/** Reads the whole request body, then answers with its length. */
function countingUpstream(): Promise<Upstream> {
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => res.end(String(bytes)));
  });
  return listen(server, sockets);
}

describe('raw engine: upstream timeouts as deadlines', () => {
  let proxy: ProxyHarness | undefined;
  let upstream: Upstream | undefined;
  afterEach(async () => {
    await proxy?.close();
    await upstream?.close();
    proxy = upstream = undefined;
  });

  it('ends a head that trickles in at the header timeout, though bytes keep arriving', async () => {
    upstream = await tricklingUpstream();
    proxy = await startProxy('raw', [{ host: 'slow.test', service: 'slow', targets: [upstream.address], timeouts: { header: 300 } }]);
    const started = Date.now();
    const reply = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http.get({ host: '127.0.0.1', port: proxy!.port, headers: { host: 'slow.test' }, agent: false }, resolve).on('error', reject),
    );
    reply.resume();
    const elapsed = Date.now() - started;
    expect(reply.statusCode).toBe(504);
    expect(proxy.accessLog.at(-1)!.error).toBe('header_timeout');
    // An inactivity timer would never fire here: the head would complete after 3 s.
    expect(elapsed).toBeGreaterThanOrEqual(280);
    expect(elapsed).toBeLessThan(2_500);
  });

  it('lets a streamed upload that still moves run past the header timeout', async () => {
    upstream = await countingUpstream();
    proxy = await startProxy('raw', [{ host: 'upload.test', service: 'upload', targets: [upstream.address], timeouts: { header: 300 } }]);
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: proxy!.port, method: 'POST', headers: { host: 'upload.test', 'transfer-encoding': 'chunked' }, agent: false },
        (res) => {
          let body = '';
          res.setEncoding('latin1');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      void (async () => {
        // 8 chunks 100 ms apart: the upload takes ~800 ms, more than twice the header timeout.
        for (let i = 0; i < 8; i++) {
          req.write(Buffer.alloc(1_000, 97));
          await sleep(100);
        }
        req.end();
      })();
    });
    expect(reply).toEqual({ status: 200, body: '8000' });
    expect(proxy.accessLog.at(-1)!.error).toBeUndefined();
  });
});
