import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type TestApp } from '../helpers/app.js';
import { startBackend, type Backend } from '../helpers/backends.js';
import { request } from './proxy-harness.js';
import { tempDir } from '../helpers/temp-dir.js';

/** DESIGN §6: names and types are API. */
const DESIGN_METRICS: Record<string, string> = {
  waypost_requests_total: 'counter',
  waypost_request_duration_seconds: 'histogram',
  waypost_upstream_errors_total: 'counter',
  waypost_retries_total: 'counter',
  waypost_endpoints: 'gauge',
  waypost_registry_events_total: 'counter',
  waypost_registry_connected: 'gauge',
  waypost_active_connections: 'gauge',
  waypost_panic_mode: 'gauge',
  waypost_ejections_total: 'counter',
  waypost_self_preservation: 'gauge',
  waypost_registry_propagation_seconds: 'histogram',
};

const dir = tempDir('obs');
const accessLogFile = path.join(dir, 'access.log');
let backend: Backend;
let proxy: TestApp;

beforeAll(async () => {
  backend = await startBackend({ name: 'b1' });
  proxy = await startApp({ accessLog: accessLogFile });
  await proxy.register({ service: 'orders', id: 'orders-1', host: '127.0.0.1', port: backend.port });
});
afterAll(async () => {
  await proxy?.stop();
  await backend?.close();
});

const scrape = async () => (await fetch(`${proxy.adminUrl}/metrics`)).text();

describe('metrics', () => {
  it('exposes every DESIGN §6 metric with its type and a HELP text', async () => {
    await request(proxy.port, { host: 'orders.localhost' });
    const text = await scrape();
    for (const [name, type] of Object.entries(DESIGN_METRICS)) {
      expect(text, name).toContain(`# TYPE ${name} ${type}`);
      expect(text, name).toMatch(new RegExp(`# HELP ${name} \\S`));
    }
    expect(text).toContain('process_cpu_user_seconds_total');
  });

  it('counts proxied requests by service and code, and endpoints by state at scrape time', async () => {
    await request(proxy.port, { host: 'orders.localhost', path: '/x' });
    const text = await scrape();
    expect(text).toMatch(/waypost_requests_total\{service="orders",code="200"\} \d+/);
    expect(text).toContain('waypost_endpoints{service="orders",state="healthy"} 1');
    expect(text).toContain('waypost_registry_connected 1');
  });

  it('keeps the series count constant across 1,000 distinct paths and unknown hosts', async () => {
    await request(proxy.port, { host: 'nobody.example', path: '/warm' });
    await request(proxy.port, { host: 'orders.localhost', path: '/warm' });
    const count = (text: string) => text.split('\n').filter((l) => l.startsWith('waypost_')).length;
    const before = count(await scrape());
    for (let i = 0; i < 1000; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          request(proxy.port, { host: (i + j) % 2 ? `host-${i + j}.example` : 'orders.localhost', path: `/item/${i + j}?q=${i}` }),
        ),
      );
    }
    const text = await scrape();
    expect(text).not.toContain('host-1.example');
    expect(text).not.toContain('/item/');
    // Only values change: no series per path or host (the two warm-up requests created every label set used).
    expect(count(text)).toBe(before);
  });
});

describe('access log', () => {
  it('writes one JSON line per proxied request with the documented fields', async () => {
    const reply = await request(proxy.port, { host: 'orders.localhost', path: '/logged?secret=1', headers: { 'x-request-id': 'req-abc-1' } });
    expect(reply.status).toBe(200);
    let entry: Record<string, unknown> | undefined;
    for (let i = 0; i < 100 && !entry; i++) {
      await new Promise((r) => setTimeout(r, 20));
      const lines = readFileSync(accessLogFile, 'utf8').trim().split('\n').filter(Boolean);
      entry = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e.requestId === 'req-abc-1');
    }
    expect(entry).toMatchObject({
      msg: 'request',
      requestId: 'req-abc-1',
      method: 'GET',
      path: '/logged',
      service: 'orders',
      instance: 'orders/orders-1',
      status: 200,
      retries: 0,
    });
    for (const field of ['durationMs', 'upstreamMs', 'bytesOut', 'time', 'level']) expect(entry).toHaveProperty(field);
  });

  it('logs the id the proxy made for a request without one: the one the client and the backend saw', async () => {
    const replies = [];
    for (let i = 0; i < 3; i++) replies.push(await request(proxy.port, { host: 'orders.localhost', path: `/made-id-${i}` }));
    const ids = replies.map((reply) => reply.headers['x-request-id'] as string);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{12}-[0-9a-z]+$/);
    expect(new Set(ids).size).toBe(3);
    let logged: Record<string, unknown>[] = [];
    for (let i = 0; i < 100 && logged.length < 3; i++) {
      await new Promise((r) => setTimeout(r, 20));
      const lines = readFileSync(accessLogFile, 'utf8').trim().split('\n').filter(Boolean);
      logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => String(e.path).startsWith('/made-id-'));
    }
    expect(logged.map((entry) => [entry.path, entry.requestId])).toEqual(ids.map((id, i) => [`/made-id-${i}`, id]));
  });
});

describe('requests answered before routing', () => {
  it('a bad request target (400) and a routing loop (508) are counted under _unrouted and logged', async () => {
    const badTarget = await rawRequest(proxy.port, 'GET http://user@orders.localhost/x HTTP/1.1\r\nHost: orders.localhost\r\nx-request-id: req-bad-target\r\n\r\n');
    expect(badTarget).toMatch(/^HTTP\/1\.1 400 /);
    const loopVia = `1.1 ${proxy.app.proxyId} (waypost)`;
    const loop = await request(proxy.port, { host: 'orders.localhost', path: '/loop', headers: { via: loopVia, 'x-request-id': 'req-loop' } });
    expect(loop.status).toBe(508);
    const text = await scrape();
    expect(text).toMatch(/waypost_requests_total\{service="_unrouted",code="400"\} [1-9]/);
    expect(text).toMatch(/waypost_requests_total\{service="_unrouted",code="508"\} [1-9]/);
    let entries: Record<string, unknown>[] = [];
    for (let i = 0; i < 100 && entries.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
      const lines = readFileSync(accessLogFile, 'utf8').trim().split('\n').filter(Boolean);
      entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.requestId === 'req-bad-target' || e.requestId === 'req-loop');
    }
    expect(entries.find((e) => e.requestId === 'req-bad-target')).toMatchObject({ status: 400, error: 'bad_request_target' });
    expect(entries.find((e) => e.requestId === 'req-loop')).toMatchObject({ status: 508, error: 'loop_detected', path: '/loop' });
  });
});

describe('upgrades answered before routing', () => {
  it('a looping WebSocket upgrade (508) is counted under _unrouted', async () => {
    const count = async (): Promise<number> => Number(/waypost_requests_total\{service="_unrouted",code="508"\} (\d+)/.exec(await scrape())?.[1] ?? 0);
    const before = await count();
    const answer = await rawRequest(
      proxy.port,
      `GET /chat HTTP/1.1\r\nHost: orders.localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nVia: 1.1 ${proxy.app.proxyId} (waypost)\r\n\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 508 /);
    expect(await count()).toBe(before + 1);
  });
});

/** One raw HTTP/1.1 exchange (for request lines a client library would not send); resolves with what came back. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

describe('dashboard wiring', () => {
  it('serves the dashboard page and the stats API on the admin port', async () => {
    const page = await fetch(`${proxy.adminUrl}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const stats = (await (await fetch(`${proxy.adminUrl}/v1/stats`)).json()) as { services: { name: string }[] };
    expect(stats.services.map((s) => s.name)).toContain('orders');
  });
});
