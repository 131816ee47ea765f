import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type TestApp } from '../helpers/app.js';
import { startBackend, type Backend } from '../helpers/backends.js';
import { deadPort } from '../helpers/ports.js';

let a: Backend;
let b: Backend;
let proxy: TestApp;
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

beforeAll(async () => {
  [a, b] = await Promise.all([startBackend({ name: 'a' }), startBackend({ name: 'b' })]);
  proxy = await startApp();
});
afterAll(async () => {
  agent.destroy();
  await proxy?.stop();
  await Promise.all([a?.close(), b?.close()]);
});

function get(host: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; backend: string | undefined; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: proxy.port, path: '/', agent, headers: { host, ...headers } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, backend: res.headers['x-backend'] as string | undefined, headers: res.headers, body }),
        );
      })
      .on('error', reject);
  });
}

/** Requests from `workers` loops until `stop` resolves; every status and backend counted. */
async function load(host: string, workers: number, stop: Promise<void>) {
  let done = false;
  void stop.then(() => (done = true));
  const statuses = new Map<number, number>();
  const backends = new Map<string, number>();
  const failures: string[] = [];
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (!done) {
        try {
          const r = await get(host, { 'x-test': 'slow=5' });
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          if (r.backend) backends.set(r.backend, (backends.get(r.backend) ?? 0) + 1);
        } catch (err) {
          failures.push(String(err));
        }
      }
    }),
  );
  return { statuses, backends, failures };
}

describe('draining and retries through the whole proxy', () => {
  it('stops new requests to a DRAINING instance at once while in-flight ones finish, losing none', async () => {
    await proxy.register({ service: 'drain', id: 'a', host: '127.0.0.1', port: a.port });
    await proxy.register({ service: 'drain', id: 'b', host: '127.0.0.1', port: b.port });
    let release!: () => void;
    const stop = new Promise<void>((r) => (release = r));
    const running = load('drain.localhost', 8, stop);
    await new Promise((r) => setTimeout(r, 300));
    await proxy.app.store.setStatus('drain', 'a', 'DRAINING');
    await new Promise((r) => setTimeout(r, 50));
    const aBefore = a.requests;
    await new Promise((r) => setTimeout(r, 400));
    const aAfter = a.requests;
    await proxy.app.store.deregister('drain', 'a');
    await new Promise((r) => setTimeout(r, 300));
    release();
    const result = await running;
    expect(result.failures).toEqual([]);
    expect([...result.statuses.keys()]).toEqual([200]);
    // Set to DRAINING, the instance takes no new request once the mirror applied the change.
    expect(aAfter - aBefore).toBe(0);
    expect(result.backends.get('b')).toBeGreaterThan(0);
  });

  it('retries a refused connection on another instance', async () => {
    const dead = await deadPort();
    await proxy.register({ service: 'retry', id: 'dead', host: '127.0.0.1', port: dead });
    await proxy.register({ service: 'retry', id: 'live', host: '127.0.0.1', port: b.port });
    const replies = await Promise.all(Array.from({ length: 20 }, () => get('retry.localhost')));
    expect(replies.every((r) => r.status === 200 && r.backend === 'b')).toBe(true);
    const metrics = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/waypost_retries_total\{service="retry"\} [1-9]/);
    expect(metrics).toMatch(/waypost_upstream_errors_total\{service="retry",reason="connect_refused"\} [1-9]/);
  });

  it('answers 503 with Retry-After when the service has no available instance', async () => {
    await proxy.register({ service: 'empty', id: 'out', host: '127.0.0.1', port: a.port, status: 'OUT_OF_SERVICE' });
    const reply = await get('empty.localhost');
    expect(reply.status).toBe(503);
    expect(reply.headers['retry-after']).toBeDefined();
    expect(reply.headers['x-waypost-error']).toBe('no_healthy_instance');
    expect(JSON.parse(reply.body)).toMatchObject({ error: 'no_healthy_instance' });
  });
});
