/**
 * The access log's bytesOut is what the client's socket received for that answer, head and
 * framing included: counted by the raw listener's response itself, or on node:http's socket.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type Backend } from '../helpers/backends.js';
import { Client } from '../helpers/http1-client.js';
import { SERVINGS, startProxy, type ProxyHarness } from './proxy-harness.js';

const request = (method: string, path: string, host = 'orders.test', extra = ''): string =>
  `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`;

describe.each(SERVINGS)('bytesOut in the access log, $label', (serving) => {
  let backend: Backend;
  let proxy: ProxyHarness | undefined;
  let client: Client | undefined;

  beforeAll(async () => {
    backend = await startBackend();
  });
  afterEach(async () => {
    client?.close();
    client = undefined;
    await proxy?.close();
    proxy = undefined;
  });
  afterAll(async () => {
    await backend.close();
  });

  it('equals the bytes each answer put on the client connection, one after another on one connection', async () => {
    proxy = await startProxy(serving, [{ host: 'orders.test', service: 'orders', targets: [backend.address] }]);
    client = new Client(proxy.port);
    const body = 'x'.repeat(3_000);
    const requests: [method: string, bytes: string][] = [
      // Content-Length answers: small, and larger than one held chunk (written as it comes).
      ['GET', request('GET', '/', 'orders.test', 'x-test: big=100\r\n')],
      ['GET', request('GET', '/', 'orders.test', 'x-test: big=300000\r\n')],
      // A chunked answer with a body streamed back, and the echo's JSON (hop-by-hop fields named by Connection).
      ['POST', `${request('POST', '/upload', 'orders.test', `x-test: echo-body\r\ncontent-length: ${body.length}\r\n`)}${body}`],
      ['GET', request('GET', '/echo')],
      // No body after HEAD; an answer of the proxy's own (no route).
      ['HEAD', request('HEAD', '/', 'orders.test', 'x-test: big=5000\r\n')],
      ['GET', request('GET', '/', 'nowhere.test')],
    ];
    let before = 0;
    const perAnswer: number[] = [];
    for (const [i, [method, bytes]] of requests.entries()) {
      client.send(bytes, method);
      await client.answer(i + 1);
      // The answer is parsed once its last byte arrived: everything received since the last one is its.
      perAnswer.push(client.received.length - before);
      before = client.received.length;
    }
    expect(client.answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 404]);
    await expect.poll(() => proxy!.accessLog.length).toBe(requests.length);
    expect(proxy.accessLog.map((entry) => entry.bytesOut)).toEqual(perAnswer);
    expect(perAnswer[1]).toBeGreaterThan(300_000);
  });
});
