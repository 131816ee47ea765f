import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type Backend } from '../helpers/backends.js';
import { eventually } from '../helpers/eventually.js';
import { ENGINES, startProxy, type ProxyHarness } from './proxy-harness.js';

const ABORTS = 500;
const CONCURRENCY = 50;

/** Runs `count` jobs with at most `limit` at a time. */
async function inBatches(count: number, limit: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < count) await job(next++);
    }),
  );
}

/** Opens a raw connection, sends `head` (+ optional body part), waits for `until`, then destroys the socket. */
function abortAfter(port: number, payload: string | Buffer, until: 'first-byte' | number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    socket.once('close', () => resolve());
    socket.write(payload);
    if (until === 'first-byte') socket.once('data', () => socket.destroy());
    else setTimeout(() => socket.destroy(), until);
  });
}

describe.each(ENGINES)('client aborts with the %s engine', (engine) => {
  let backend: Backend;
  let proxy: ProxyHarness;

  beforeAll(async () => {
    backend = await startBackend({ name: 'abort' });
  });
  afterAll(async () => {
    await backend.close();
  });
  afterEach(async () => {
    await proxy.close();
  });

  function expectNothingLeft(): void {
    expect(proxy.server.inflight).toBe(0);
    expect(proxy.server.engineStats().pending).toBe(0);
    expect(proxy.router.endpoints('orders')[0]!.stats.inflight).toBe(0);
    // Aborted exchanges cannot be reused: their upstream sockets must be gone.
    expect(backend.openConnections()).toBeLessThanOrEqual(2);
  }

  it('aborting uploads mid-body leaves no upstream request or socket behind', async () => {
    proxy = await startProxy(engine, [{ host: 'orders.test', service: 'orders', targets: [backend.address] }]);
    const head =
      'POST /upload HTTP/1.1\r\nhost: orders.test\r\ncontent-length: 1048576\r\ncontent-type: application/octet-stream\r\n\r\n';
    const payload = Buffer.concat([Buffer.from(head), Buffer.alloc(128 * 1024, 1)]);
    const before = backend.requests;
    await inBatches(ABORTS, CONCURRENCY, () => abortAfter(proxy.port, payload, 100));
    expect(backend.requests - before).toBeGreaterThan(ABORTS / 4);
    await eventually(expectNothingLeft);
  });

  it('aborting downloads mid-body leaves no upstream request or socket behind', async () => {
    proxy = await startProxy(engine, [{ host: 'orders.test', service: 'orders', targets: [backend.address] }]);
    const payload = 'GET /download HTTP/1.1\r\nhost: orders.test\r\nx-test: big=1048576\r\n\r\n';
    await inBatches(ABORTS, CONCURRENCY, () => abortAfter(proxy.port, payload, 'first-byte'));
    await eventually(expectNothingLeft);
    // Each request is logged once, whether the abort beat the end of the response or not.
    expect(proxy.accessLog).toHaveLength(ABORTS);
  });
});
