/**
 * WebSockets through a whole Waypost (src/app.ts wiring, memory store): echo,
 * weighted spread, survival across registry changes, drain on deregister,
 * graceful stop, and the bad-input answers (400, forwarded refusals, 404, 503).
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { deadPort } from '../helpers/ports.js';
import { startStreamApp, startWsBackend, waitUntil, type StreamApp, type WsBackend } from './stream-harness.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => {});
});

async function app(overrides: Parameters<typeof startStreamApp>[0] = {}): Promise<StreamApp> {
  const started = await startStreamApp(overrides);
  cleanups.push(() => started.stop());
  return started;
}

async function wsBackend(name: string): Promise<WsBackend> {
  const backend = await startWsBackend(name);
  cleanups.push(() => backend.close());
  return backend;
}

/** Opens a WebSocket through the proxy with the given Host header. */
function open(port: number, host: string, path = '/'): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers: { host } });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  });
}

function ask(ws: WebSocket, message: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    ws.once('message', (data: Buffer) => resolve(data.toString()));
    ws.once('close', () => reject(new Error('closed while waiting for an answer')));
    ws.send(message);
  });
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) resolve({ code: -1, reason: '' });
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
}

/** The status the proxy answers to an upgrade request that ws cannot complete. */
function refusedStatus(port: number, host: string): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { host } });
    ws.once('open', () => reject(new Error('upgrade unexpectedly succeeded')));
    ws.once('error', () => {});
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
  });
}

/** Sends raw bytes and collects everything until the proxy closes the connection. */
function rawExchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString()));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
    socket.setTimeout(5_000, () => reject(new Error('proxy did not close the connection')));
  });
}

describe('WebSocket proxying', () => {
  it('echoes text and binary messages through the proxy, routed by host', async () => {
    const proxy = await app();
    const backend = await wsBackend('a');
    await proxy.register({ service: 'chat', id: 'a', host: '127.0.0.1', port: backend.port });
    const ws = await open(proxy.port, 'chat.localhost', '/room?x=1');
    expect(await ask(ws, 'hello')).toBe('hello');
    const big = Buffer.alloc(200_000, 7);
    expect(await ask(ws, big)).toBe(big.toString());
    expect(await ask(ws, 'proto')).toBe('http');
    expect(proxy.app.connections.countFor('chat', 'a')).toBe(1);
    ws.close(1000);
    await closed(ws);
    await waitUntil(() => proxy.app.connections.countFor('chat', 'a') === 0);
  });

  it('spreads 200 concurrent WebSockets over two instances by weight (1:3)', async () => {
    const proxy = await app();
    const light = await wsBackend('light');
    const heavy = await wsBackend('heavy');
    await proxy.register({ service: 'chat', id: 'light', host: '127.0.0.1', port: light.port, weight: 100 });
    await proxy.register({ service: 'chat', id: 'heavy', host: '127.0.0.1', port: heavy.port, weight: 300 });
    const sockets = await Promise.all(Array.from({ length: 200 }, () => open(proxy.port, 'chat.localhost')));
    const names = await Promise.all(sockets.map((ws) => ask(ws, 'who')));
    const lightCount = names.filter((n) => n === 'light').length;
    expect(lightCount + names.filter((n) => n === 'heavy').length).toBe(200);
    expect(lightCount).toBeGreaterThanOrEqual(40);
    expect(lightCount).toBeLessThanOrEqual(60);
    // Open WebSockets count as in-flight work of their instance (least-request and bounded load see them).
    const stats = proxy.app.pool.peek('chat', 'light');
    expect(stats?.inflight).toBe(lightCount);
    for (const ws of sockets) ws.terminate();
  });

  it('keeps open WebSockets through 100 registry changes to other instances and services', async () => {
    const proxy = await app();
    const backend = await wsBackend('a');
    await proxy.register({ service: 'chat', id: 'a', host: '127.0.0.1', port: backend.port });
    const sockets = await Promise.all(Array.from({ length: 10 }, () => open(proxy.port, 'chat.localhost')));
    const closes: number[] = [];
    for (const ws of sockets) ws.on('close', (code) => closes.push(code));
    const dead = await deadPort();
    for (let i = 0; i < 100; i++) {
      switch (i % 4) {
        case 0:
          await proxy.register({ service: 'chat', id: `other-${i}`, host: '127.0.0.1', port: dead });
          break;
        case 1:
          await proxy.deregister('chat', `other-${i - 1}`);
          break;
        case 2:
          await proxy.register({ service: 'billing', id: `b-${i}`, host: '127.0.0.1', port: dead });
          break;
        default:
          await proxy.register({ service: 'chat', id: 'a', host: '127.0.0.1', port: backend.port, weight: 100 + i });
      }
    }
    expect(closes).toEqual([]);
    const answers = await Promise.all(sockets.map((ws, i) => ask(ws, `still-${i}`)));
    expect(answers).toEqual(sockets.map((_, i) => `still-${i}`));
    for (const ws of sockets) ws.terminate();
  });

  it('lets a deregistered instance’s WebSockets run for drainTimeout, then closes them with 1001', async () => {
    const proxy = await app({ drainTimeout: '400ms' });
    const leaving = await wsBackend('leaving');
    const staying = await wsBackend('staying');
    await proxy.register({ service: 'chat', id: 'leaving', host: '127.0.0.1', port: leaving.port });
    const onLeaving = await open(proxy.port, 'chat.localhost');
    await proxy.register({ service: 'chat', id: 'staying', host: '127.0.0.1', port: staying.port, weight: 10_000 });
    await proxy.deregister('chat', 'leaving');
    const closing = closed(onLeaving);
    // Still open and working within the drain time.
    expect(await ask(onLeaving, 'during drain')).toBe('during drain');
    const onStaying = await open(proxy.port, 'chat.localhost');
    expect(await ask(onStaying, 'who')).toBe('staying');
    expect(await closing).toEqual({ code: 1001, reason: 'going away' });
    // The drained instance's socket closes; the other one is untouched.
    expect(onStaying.readyState).toBe(WebSocket.OPEN);
    expect(await ask(onStaying, 'after')).toBe('after');
    await waitUntil(() => leaving.closeCodes.length === 1);
    expect(leaving.closeCodes).toEqual([1001]);
    onStaying.terminate();
  });

  it('drains on status DRAINING and cancels the drain when the instance is UP again', async () => {
    const proxy = await app({ drainTimeout: '300ms' });
    const backend = await wsBackend('a');
    await proxy.register({ service: 'chat', id: 'a', host: '127.0.0.1', port: backend.port });
    const ws = await open(proxy.port, 'chat.localhost');
    await proxy.register({ service: 'chat', id: 'a', host: '127.0.0.1', port: backend.port, status: 'DRAINING' });
    await proxy.register({ service: 'chat', id: 'a', host: '127.0.0.1', port: backend.port, status: 'UP' });
    await new Promise((r) => setTimeout(r, 500));
    expect(ws.readyState).toBe(WebSocket.OPEN);
    await proxy.register({ service: 'chat', id: 'a', host: '127.0.0.1', port: backend.port, status: 'DRAINING' });
    expect(await closed(ws)).toEqual({ code: 1001, reason: 'going away' });
  });

  it('closes open WebSockets with 1001 after the grace period on graceful stop', async () => {
    const proxy = await startStreamApp({ timeouts: { grace: '200ms' } });
    const backend = await wsBackend('a');
    await proxy.register({ service: 'chat', id: 'a', host: '127.0.0.1', port: backend.port });
    const ws = await open(proxy.port, 'chat.localhost');
    const closing = closed(ws);
    await proxy.stop();
    expect(await closing).toEqual({ code: 1001, reason: 'going away' });
  });

  it('answers 400 and closes the socket for an upgrade without Sec-WebSocket-Key or with a bad version', async () => {
    const proxy = await app();
    const backend = await wsBackend('a');
    await proxy.register({ service: 'chat', id: 'a', host: '127.0.0.1', port: backend.port });
    const noKey = await rawExchange(
      proxy.port,
      'GET / HTTP/1.1\r\nHost: chat.localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    expect(noKey).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(noKey).toContain('x-waypost-error: bad_upgrade');
    const badVersion = await rawExchange(
      proxy.port,
      'GET / HTTP/1.1\r\nHost: chat.localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n',
    );
    expect(badVersion).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
  });

  it('forwards the backend’s status when it refuses the upgrade (403, or 200 without upgrading)', async () => {
    const proxy = await app();
    const refusing = http.createServer((_req, res) => res.end('plain http'));
    refusing.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 5\r\nx-why: policy\r\n\r\nnope!'));
    const plain = http.createServer((_req, res) => res.end('plain http'));
    // Without an upgrade listener, node answers upgrade requests through the request handler: 200, no switch.
    for (const server of [refusing, plain]) {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
    }
    await proxy.register({ service: 'locked', id: 'x', host: '127.0.0.1', port: (refusing.address() as AddressInfo).port });
    await proxy.register({ service: 'plain', id: 'y', host: '127.0.0.1', port: (plain.address() as AddressInfo).port });
    const forbidden = await refusedStatus(proxy.port, 'locked.localhost');
    expect(forbidden).toMatchObject({ status: 403, body: 'nope!' });
    expect(forbidden.headers['x-why']).toBe('policy');
    expect(await refusedStatus(proxy.port, 'plain.localhost')).toMatchObject({ status: 200, body: 'plain http' });
  });

  it('echoes X-Request-Id on the 101, on a refusal passed through and on a proxy-made error', async () => {
    const proxy = await app({ domains: ['localhost'] });
    const backend = await wsBackend('a');
    await proxy.register({ service: 'chat', id: 'a', host: '127.0.0.1', port: backend.port });
    const switched = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/`, { headers: { host: 'chat.localhost', 'x-request-id': 'ws-id-1' } });
      ws.once('upgrade', (res) => {
        resolve(res);
        ws.close(1000);
      });
      ws.once('error', reject);
    });
    expect(switched.headers['x-request-id']).toBe('ws-id-1');

    const refusing = http.createServer((_req, res) => res.end('plain http'));
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => refusing.close(() => resolve())));
    await proxy.register({ service: 'plain', id: 'p', host: '127.0.0.1', port: (refusing.address() as AddressInfo).port });
    expect((await refusedStatus(proxy.port, 'plain.localhost')).headers['x-request-id']).toMatch(/^[0-9a-f]{12}-/);

    const noRoute = await rawExchange(
      proxy.port,
      'GET / HTTP/1.1\r\nHost: nowhere.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Request-Id: ws-id-2\r\n\r\n',
    );
    expect(noRoute).toMatch(/^HTTP\/1\.1 404 /);
    expect(noRoute).toContain('x-request-id: ws-id-2');
  });

  it('answers 404 without a route, 503 without an instance and 502 when every instance refuses', async () => {
    const proxy = await app({ domains: ['localhost'] });
    expect((await refusedStatus(proxy.port, 'nowhere.example')).status).toBe(404);
    await proxy.register({ service: 'empty', id: 'e', host: '127.0.0.1', port: 9, status: 'OUT_OF_SERVICE' });
    const unavailable = await refusedStatus(proxy.port, 'empty.localhost');
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers['retry-after']).toBe('1');
    const dead = await deadPort();
    await proxy.register({ service: 'down', id: 'd', host: '127.0.0.1', port: dead });
    const failed = await refusedStatus(proxy.port, 'down.localhost');
    expect(failed.status).toBe(502);
    expect(failed.headers['x-waypost-error']).toBe('upstream_failed');
  });

  it('retries a refused connect on another instance', async () => {
    const proxy = await app();
    const live = await wsBackend('live');
    const dead = await deadPort();
    await proxy.register({ service: 'chat', id: 'dead', host: '127.0.0.1', port: dead, weight: 10_000 });
    await proxy.register({ service: 'chat', id: 'live', host: '127.0.0.1', port: live.port, weight: 1 });
    const ws = await open(proxy.port, 'chat.localhost');
    expect(await ask(ws, 'who')).toBe('live');
    ws.terminate();
  });
});
