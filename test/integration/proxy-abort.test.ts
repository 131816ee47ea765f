import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type Backend } from '../helpers/backends.js';
import { eventually } from '../helpers/eventually.js';
import { SERVINGS, startProxy, type ProxyHarness } from './proxy-harness.js';

const ABORTS = 500;
const CONCURRENCY = 50;
/**
 * Safety bounds, not speed assertions: 500 aborts take 4-8 s on a quiet 2-core machine (client, proxy and
 * backend in one process) and up to 35 s with every core busy elsewhere; 100 ms each covers that.
 */
const ABORT_BUDGET_MS = 100;
const DRAIN_BUDGET_MS = 10_000;
const TEST_BUDGET_MS = ABORTS * ABORT_BUDGET_MS + DRAIN_BUDGET_MS;
/** An upload the proxy never forwards is aborted after this anyway (and the count below fails). */
const ARRIVAL_BUDGET_MS = 10_000;

/** Runs `count` jobs with at most `limit` at a time. */
async function inBatches(count: number, limit: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < count) await job(next++);
    }),
  );
}

/** Opens a raw connection, sends `payload`, waits until `abort` resolves, then destroys the socket. */
function abortWhen(port: number, payload: string | Buffer, abort: (socket: net.Socket) => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    socket.once('close', () => resolve());
    socket.write(payload);
    void abort(socket).then(() => socket.destroy());
  });
}

const firstByte = (socket: net.Socket): Promise<void> => new Promise((resolve) => socket.once('data', () => resolve()));

describe.each(SERVINGS)('client aborts with the $label', (serving) => {
  const engine = serving.engine;
  let backend: Backend;
  let proxy: ProxyHarness;
  /** Upload id (x-upload header) → resolves once the backend has the request's head. */
  const arrivals = new Map<string, () => void>();

  beforeAll(async () => {
    backend = await startBackend({ name: 'abort', onRequest: (req) => arrivals.get(String(req.headers['x-upload']))?.() });
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
    proxy = await startProxy(serving, [{ host: 'orders.test', service: 'orders', targets: [backend.address] }]);
    const body = Buffer.alloc(128 * 1024, 1);
    const upload = (i: number): Promise<void> => {
      const head = `POST /upload HTTP/1.1\r\nhost: orders.test\r\nx-upload: ${i}\r\ncontent-length: 1048576\r\ncontent-type: application/octet-stream\r\n\r\n`;
      // The abort waits until the proxy has forwarded the request: the upstream exchange is open, its body
      // unfinished (128 KiB of 1 MiB sent), whatever the speed of the machine.
      const arrived = new Promise<void>((resolve) => {
        arrivals.set(String(i), resolve);
        setTimeout(resolve, ARRIVAL_BUDGET_MS).unref();
      });
      return abortWhen(proxy.port, Buffer.concat([Buffer.from(head), body]), () => arrived).finally(() => arrivals.delete(String(i)));
    };
    const before = backend.requests;
    await inBatches(ABORTS, CONCURRENCY, upload);
    expect(backend.requests - before).toBe(ABORTS);
    await eventually(expectNothingLeft, DRAIN_BUDGET_MS);
  }, TEST_BUDGET_MS);

  it('aborting downloads mid-body leaves no upstream request or socket behind', async () => {
    proxy = await startProxy(serving, [{ host: 'orders.test', service: 'orders', targets: [backend.address] }]);
    const payload = 'GET /download HTTP/1.1\r\nhost: orders.test\r\nx-test: big=1048576\r\n\r\n';
    await inBatches(ABORTS, CONCURRENCY, () => abortWhen(proxy.port, payload, firstByte));
    await eventually(expectNothingLeft, DRAIN_BUDGET_MS);
    // Each request is logged once, whether the abort beat the end of the response or not.
    expect(proxy.accessLog).toHaveLength(ABORTS);
  }, TEST_BUDGET_MS);
});
