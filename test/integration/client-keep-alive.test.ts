/**
 * Client keep-alive on the proxy listener of a whole app: an HTTP/1.1 connection left idle
 * after its answer is closed after 5 s (node:http's keepAliveTimeout, src/proxy/http-listener.ts),
 * over plain TCP and over TLS alike, and one kept busy is not.
 */
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type Backend } from '../helpers/backends.js';
import { sleep } from '../helpers/wait.js';
import { certDir, startStreamApp, type StreamApp } from './stream-harness.js';

const KEEP_ALIVE_MS = 5_000;
const REQUEST = 'GET / HTTP/1.1\r\nHost: web.localhost\r\n\r\n';

interface Client {
  socket: net.Socket;
  received: () => string;
  closedAt: () => number | undefined;
}

function watch(socket: net.Socket): Client {
  let received = '';
  let closedAt: number | undefined;
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  socket.on('error', () => {});
  socket.on('close', () => (closedAt = Date.now()));
  return { socket, received: () => received, closedAt: () => closedAt };
}

/** Sends one request and resolves once its answer (a 200 with a body) is in. */
async function request(client: Client, nth: number): Promise<void> {
  client.socket.write(REQUEST);
  for (let i = 0; i < 500 && (client.received().match(/HTTP\/1\.1 200 /g) ?? []).length < nth; i++) await sleep(10);
  expect((client.received().match(/HTTP\/1\.1 200 /g) ?? []).length).toBe(nth);
}

/** Milliseconds from now until the server closes the connection (or 10 s). */
async function idleUntilClosed(client: Client): Promise<number> {
  const from = Date.now();
  for (let i = 0; i < 1_000 && client.closedAt() === undefined; i++) await sleep(10);
  return (client.closedAt() ?? Date.now()) - from;
}

describe('client keep-alive', () => {
  let certs: ReturnType<typeof certDir>;
  let backend: Backend;
  let proxy: StreamApp;
  let tlsPort: number;

  beforeAll(async () => {
    certs = certDir();
    const pair = certs.make('web', 'web.localhost', ['web.localhost']);
    backend = await startBackend({ name: 'web' });
    proxy = await startStreamApp({
      listen: [{ address: '127.0.0.1:0' }, { address: '127.0.0.1:0', tls: true }] as never,
      tls: { certificates: [{ hosts: ['web.localhost'], cert: pair.certFile, key: pair.keyFile, default: true }] },
      routes: [{ host: 'web.localhost', service: 'web' }],
    });
    tlsPort = proxy.app.addresses.http[1]!.port;
    await proxy.register({ service: 'web', id: 'w', host: '127.0.0.1', port: backend.port, ttl: 3600 });
  });

  afterAll(async () => {
    await proxy.stop();
    await backend.close();
    certs.cleanup();
  });

  it('closes an idle connection after the keep-alive limit, plain and TLS, and keeps a busy one', async () => {
    const plain = watch(net.connect(proxy.port, '127.0.0.1'));
    const secure = watch(tls.connect({ port: tlsPort, host: '127.0.0.1', servername: 'web.localhost', rejectUnauthorized: false }));
    const busy = watch(net.connect(proxy.port, '127.0.0.1'));
    await Promise.all([request(plain, 1), request(secure, 1), request(busy, 1)]);
    // Clients are told the limit, so their pools stop reusing a connection before it is closed.
    for (const client of [plain, secure, busy]) expect(client.received()).toMatch(/\r\nKeep-Alive: timeout=5\r\n/i);
    // The busy connection asks again every 2 s, for longer than the limit.
    const keepBusy = (async () => {
      for (let i = 2; i <= 5; i++) {
        await sleep(2_000);
        await request(busy, i);
      }
    })();
    const [plainIdle, secureIdle] = await Promise.all([idleUntilClosed(plain), idleUntilClosed(secure)]);
    await keepBusy;
    for (const idle of [plainIdle, secureIdle]) {
      expect(idle).toBeGreaterThanOrEqual(KEEP_ALIVE_MS - 100);
      // At most one sweep interval (1 s) late, plus slack for a loaded machine.
      expect(idle).toBeLessThan(KEEP_ALIVE_MS + 3_000);
    }
    expect(busy.closedAt()).toBeUndefined();
    busy.socket.destroy();
  });
});
