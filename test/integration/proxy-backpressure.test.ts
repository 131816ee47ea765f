/**
 * A slow client must slow the upstream down, not make the proxy buffer the response: the
 * backend streams 64 MiB as fast as its socket takes it, the client reads 1 MiB and stops.
 * What the backend managed to write then stays bounded by socket and stream buffers; once
 * the client reads again the whole body arrives intact.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, startProxy } from './proxy-harness.js';

const TOTAL = 64 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

interface StreamingBackend {
  port: number;
  /** Bytes the backend's response has handed to its socket so far. */
  written(): number;
  close(): Promise<void>;
}

async function startStreamingBackend(): Promise<StreamingBackend> {
  let written = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': TOTAL });
    let sent = 0;
    const pump = (): void => {
      while (sent < TOTAL) {
        sent += CHUNK.length;
        written = sent;
        if (!res.write(CHUNK)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    written: () => written,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(ENGINES)('backpressure through the %s engine', (engine) => {
  let backend: StreamingBackend;
  beforeAll(async () => {
    backend = await startStreamingBackend();
  });
  afterAll(async () => {
    await backend.close();
  });

  it('a client that stops reading stops the upstream; reading again delivers every byte', async () => {
    const proxy = await startProxy(engine, [{ host: 'big.test', service: 'big', targets: [`127.0.0.1:${backend.port}`] }]);
    const socket = net.connect(proxy.port, '127.0.0.1');
    try {
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      socket.write('GET /big HTTP/1.1\r\nhost: big.test\r\nconnection: close\r\n\r\n');
      let received = 0;
      await new Promise<void>((resolve) => {
        const onData = (chunk: Buffer): void => {
          received += chunk.length;
          if (received >= 1024 * 1024) {
            socket.off('data', onData);
            socket.pause();
            resolve();
          }
        };
        socket.on('data', onData);
      });
      // Let everything that can flow, flow; then the backend must be stuck well short of the end.
      let before = -1;
      for (let i = 0; i < 50 && backend.written() !== before; i++) {
        before = backend.written();
        await sleep(100);
      }
      const stalledAt = backend.written();
      expect(stalledAt).toBeLessThan(TOTAL / 2);
      await sleep(300);
      expect(backend.written()).toBe(stalledAt);

      // Reading again: the rest arrives, head and body, nothing lost.
      const done = new Promise<void>((resolve, reject) => {
        socket.on('data', (chunk: Buffer) => (received += chunk.length));
        socket.once('end', resolve);
        socket.once('error', reject);
      });
      socket.resume();
      await done;
      expect(backend.written()).toBe(TOTAL);
      expect(received).toBeGreaterThan(TOTAL);
      expect(received).toBeLessThan(TOTAL + 4096);
    } finally {
      socket.destroy();
      await proxy.close();
    }
  }, 60_000);
});
