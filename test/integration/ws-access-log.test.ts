/**
 * One access-log line per WebSocket upgrade, in the fields of an HTTP request's line
 * (src/proxy/ws-access-log.ts says when it is written): every refusal once it is
 * answered (before routing, no route, no instance, policy, upstream failure, the
 * backend's own refusal), every 101 once its tunnel closes, with the bytes both ways.
 */
import { readFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { AccessLogEntry } from '../../src/access-log.js';
import { startApp } from '../helpers/app.js';
import { deadPort } from '../helpers/ports.js';
import { testTempDir } from '../helpers/temp-dir.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { startProxy, type ProxyHarness } from './proxy-harness.js';
import { startWsBackend } from './stream-harness.js';
import type { StaticRoute } from '../helpers/static-router.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => {});
});

async function proxyWith(routes: StaticRoute[]): Promise<ProxyHarness> {
  const proxy = await startProxy('undici', routes);
  cleanups.push(() => proxy.close());
  return proxy;
}

async function wsBackendAddress(name = 'a'): Promise<{ address: string; close(): Promise<void>; terminateAll(): void }> {
  const backend = await startWsBackend(name);
  cleanups.push(() => backend.close());
  return {
    address: `127.0.0.1:${backend.port}`,
    close: () => backend.close(),
    terminateAll: () => {
      for (const client of backend.server.clients) client.terminate();
    },
  };
}

/** A TCP server with `onSocket` (for upstreams that never answer, or answer oddly). */
async function tcpServer(onSocket: (socket: net.Socket) => void): Promise<string> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** A raw upgrade request; collects the whole answer until the proxy closes the connection. */
function rawUpgrade(port: number, target: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = [`GET ${target} HTTP/1.1`, 'Connection: Upgrade', 'Upgrade: websocket', `Sec-WebSocket-Key: ${KEY}`, 'Sec-WebSocket-Version: 13'];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`${lines.join('\r\n')}\r\n\r\n`));
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => reject(new Error('proxy did not close the connection')));
  });
}

function open(port: number, host: string, path = '/', headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers: { host, ...headers } });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  });
}

function echo(ws: WebSocket, message: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('message', () => resolve());
    ws.once('close', () => reject(new Error('closed while waiting for the echo')));
    ws.send(message);
  });
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) resolve(-1);
    else ws.once('close', (code) => resolve(code));
  });
}

/** The one line for this request id; fails if there is more than one (now or a moment later). */
async function onlyLine(proxy: ProxyHarness, requestId: string): Promise<AccessLogEntry> {
  const entry = await waitFor(`access-log line of ${requestId}`, () => proxy.accessLog.find((e) => e.requestId === requestId));
  await sleep(100);
  expect(proxy.accessLog.filter((e) => e.requestId === requestId)).toHaveLength(1);
  return entry;
}

describe('access log of WebSocket upgrades', () => {
  it('writes a 101 once, when the tunnel closes, with the bytes both ways and the whole duration', async () => {
    const backend = await wsBackendAddress();
    const proxy = await proxyWith([{ host: 'chat.localhost', service: 'chat', targets: [backend.address] }]);
    const ws = await open(proxy.port, 'chat.localhost', '/room?token=secret', { 'x-request-id': 'ws-ok-1' });
    await echo(ws, 'hello');
    await echo(ws, Buffer.alloc(1_000, 1));
    await sleep(150);
    // Open: nothing logged yet (the line needs the tunnel's bytes and duration).
    expect(proxy.accessLog).toEqual([]);
    ws.close(1000);
    await closed(ws);
    const entry = await onlyLine(proxy, 'ws-ok-1');
    expect(entry).toMatchObject({
      method: 'GET',
      host: 'chat.localhost',
      path: '/room',
      service: 'chat',
      routeId: 'static:chat',
      instance: 'chat/chat-0',
      status: 101,
      retries: 0,
      error: undefined,
      protocol: 'HTTP/1.1',
    });
    // Client frames are masked: "hello" 2+4+5, 1000 bytes 2+2+4+1000, close(1000) 2+4+2.
    expect(entry.bytesIn).toBe(11 + 1_008 + 8);
    // The 101 head, then the echoes 2+5 and 2+2+1000 and the backend's close frame 2+2.
    expect(entry.bytesOut).toBeGreaterThan('HTTP/1.1 101 Switching Protocols\r\n\r\n'.length + 7 + 1_004 + 4);
    expect(entry.bytesOut).toBeLessThan(2_000);
    expect(entry.durationMs).toBeGreaterThanOrEqual(150);
    expect(entry.upstreamMs).toBeGreaterThan(0);
    expect(entry.upstreamMs).toBeLessThan(entry.durationMs);
  });

  it('writes the line of a tunnel the backend ends, and of one a graceful stop closes', async () => {
    const backend = await wsBackendAddress();
    const proxy = await proxyWith([{ host: 'chat.localhost', service: 'chat', targets: [backend.address] }]);
    const cut = await open(proxy.port, 'chat.localhost', '/', { 'x-request-id': 'ws-cut' });
    const cutClosed = closed(cut);
    backend.terminateAll();
    await cutClosed;
    expect(await onlyLine(proxy, 'ws-cut')).toMatchObject({ status: 101, service: 'chat' });

    const stopped = await open(proxy.port, 'chat.localhost', '/', { 'x-request-id': 'ws-stop' });
    const stoppedClosed = closed(stopped);
    await proxy.close(0);
    expect(await stoppedClosed).toBe(1001);
    expect(await onlyLine(proxy, 'ws-stop')).toMatchObject({ status: 101, bytesIn: expect.any(Number) });
    expect(proxy.accessLog).toHaveLength(2);
  });

  it('names the upstream failure that ended a tunnel in the 101 line’s error', async () => {
    // Switches protocols, then resets the connection (RST) on the first bytes through the tunnel.
    const resetting = await tcpServer((socket) => {
      socket.once('data', () => {
        socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
        socket.once('data', () => socket.resetAndDestroy());
      });
    });
    const proxy = await proxyWith([{ host: 'chat.localhost', service: 'chat', targets: [resetting], retries: 0 }]);
    const client = net.connect(proxy.port, '127.0.0.1');
    client.on('error', () => {});
    const gone = new Promise((resolve) => client.once('close', resolve));
    client.write(`GET / HTTP/1.1\r\nHost: chat.localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\nX-Request-Id: ws-reset\r\n\r\n`);
    await new Promise((resolve) => client.once('data', resolve));
    client.write('anything');
    await gone;
    expect(await onlyLine(proxy, 'ws-reset')).toMatchObject({ status: 101, error: 'reset', bytesIn: 'anything'.length });
  });

  it('logs refusals before routing under no service: a bad request target (400) and a loop (508)', async () => {
    const backend = await wsBackendAddress();
    const proxy = await proxyWith([{ host: 'chat.localhost', service: 'chat', targets: [backend.address] }]);
    const badTarget = await rawUpgrade(proxy.port, 'http://user@chat.localhost/', { Host: 'chat.localhost', 'X-Request-Id': 'ws-target' });
    expect(badTarget).toMatch(/^HTTP\/1\.1 400 /);
    expect(await onlyLine(proxy, 'ws-target')).toMatchObject({ status: 400, error: 'bad_request_target', service: undefined, instance: undefined });
    const loop = await rawUpgrade(proxy.port, '/', { Host: 'chat.localhost', Via: `1.1 ${proxy.server.proxyId}`, 'X-Request-Id': 'ws-loop' });
    expect(loop).toMatch(/^HTTP\/1\.1 508 /);
    const entry = await onlyLine(proxy, 'ws-loop');
    expect(entry).toMatchObject({ status: 508, error: 'loop_detected', service: undefined, path: '/', protocol: 'HTTP/1.1' });
    expect(entry.bytesOut).toBe(Buffer.byteLength(loop, 'latin1'));
  });

  it('logs a malformed upgrade (400), no route (404) and no instance (503)', async () => {
    const proxy = await proxyWith([{ host: 'empty.localhost', service: 'empty', targets: [] }]);
    const malformed = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(proxy.port, '127.0.0.1', () =>
        socket.write('GET / HTTP/1.1\r\nHost: empty.localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Request-Id: ws-bad\r\n\r\n'),
      );
      let answer = '';
      socket.on('data', (chunk) => (answer += chunk.toString()));
      socket.on('close', () => resolve(answer));
      socket.on('error', reject);
    });
    expect(malformed).toMatch(/^HTTP\/1\.1 400 /);
    expect(await onlyLine(proxy, 'ws-bad')).toMatchObject({ status: 400, error: 'bad_upgrade', service: undefined });
    expect(await rawUpgrade(proxy.port, '/x?y=1', { Host: 'nowhere.localhost', 'X-Request-Id': 'ws-404' })).toMatch(/^HTTP\/1\.1 404 /);
    expect(await onlyLine(proxy, 'ws-404')).toMatchObject({ status: 404, error: 'no_route', host: 'nowhere.localhost', path: '/x', service: undefined });
    expect(await rawUpgrade(proxy.port, '/', { Host: 'empty.localhost', 'X-Request-Id': 'ws-503' })).toMatch(/^HTTP\/1\.1 503 /);
    expect(await onlyLine(proxy, 'ws-503')).toMatchObject({ status: 503, error: 'no_healthy_instance', service: 'empty', routeId: 'static:empty', instance: undefined });
    expect(proxy.accessLog).toHaveLength(3);
  });

  it('logs upstream failures with the upstream reason: 502 after retries, 504 on a header timeout', async () => {
    const [deadA, deadB] = [await deadPort(), await deadPort()];
    const silent = await tcpServer(() => {});
    const proxy = await proxyWith([
      { host: 'down.localhost', service: 'down', targets: [`127.0.0.1:${deadA}`, `127.0.0.1:${deadB}`], retries: 1 },
      { host: 'slow.localhost', service: 'slow', targets: [silent], retries: 0, timeouts: { header: 300 } },
    ]);
    expect(await rawUpgrade(proxy.port, '/', { Host: 'down.localhost', 'X-Request-Id': 'ws-502' })).toMatch(/^HTTP\/1\.1 502 /);
    const failed = await onlyLine(proxy, 'ws-502');
    expect(failed).toMatchObject({ status: 502, error: 'connect_refused', service: 'down', retries: 1, upstreamMs: 0 });
    expect(failed.instance).toMatch(/^down\/down-[01]$/);
    expect(await rawUpgrade(proxy.port, '/', { Host: 'slow.localhost', 'X-Request-Id': 'ws-504' })).toMatch(/^HTTP\/1\.1 504 /);
    const timedOut = await onlyLine(proxy, 'ws-504');
    expect(timedOut).toMatchObject({ status: 504, error: 'header_timeout', instance: 'slow/slow-0', retries: 0 });
    expect(timedOut.durationMs).toBeGreaterThanOrEqual(300);
  });

  it('logs the backend’s own refusal once its body is through', async () => {
    const body = 'x'.repeat(5_000);
    const refusing = await tcpServer((socket) => {
      socket.once('data', () => {
        socket.write(`HTTP/1.1 403 Forbidden\r\ncontent-length: ${body.length}\r\n\r\n${body.slice(0, 100)}`);
        // The rest comes later: the line must wait for it.
        setTimeout(() => socket.end(body.slice(100)), 200);
      });
    });
    const proxy = await proxyWith([{ host: 'locked.localhost', service: 'locked', targets: [refusing], retries: 0 }]);
    const answer = await rawUpgrade(proxy.port, '/', { Host: 'locked.localhost', 'X-Request-Id': 'ws-403' });
    expect(answer).toMatch(/^HTTP\/1\.1 403 /);
    expect(answer.endsWith(body)).toBe(true);
    const entry = await onlyLine(proxy, 'ws-403');
    expect(entry).toMatchObject({ status: 403, error: undefined, service: 'locked', instance: 'locked/locked-0' });
    expect(entry.bytesOut).toBe(Buffer.byteLength(answer, 'latin1'));
    expect(entry.durationMs).toBeGreaterThanOrEqual(200);
    expect(entry.upstreamMs).toBeLessThan(entry.durationMs);
  });

  it('logs 499 client_abort for a client that left before the upstream answered (a refusal or a 101)', async () => {
    // Each upstream answers only once the client that asked is gone (and the proxy had a moment to see it).
    let clientGone: Promise<unknown> = Promise.resolve();
    let client: net.Socket | undefined;
    const answerLate = (answer: string) => (socket: net.Socket) => {
      socket.once('data', () => {
        client!.destroy();
        void clientGone.then(() => setTimeout(() => socket.write(answer), 100));
      });
    };
    const refusing = await tcpServer(answerLate('HTTP/1.1 403 Forbidden\r\ncontent-length: 4\r\n\r\nnope'));
    const switching = await tcpServer(answerLate('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'));
    const proxy = await proxyWith([
      { host: 'locked.localhost', service: 'locked', targets: [refusing], retries: 0 },
      { host: 'chat.localhost', service: 'chat', targets: [switching], retries: 0 },
    ]);
    for (const [host, id] of [['locked.localhost', 'gone-403'], ['chat.localhost', 'gone-101']] as const) {
      const socket = net.connect(proxy.port, '127.0.0.1', () =>
        socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\nX-Request-Id: ${id}\r\n\r\n`),
      );
      socket.on('error', () => {});
      client = socket;
      clientGone = new Promise((resolve) => socket.once('close', resolve));
      expect(await onlyLine(proxy, id)).toMatchObject({ status: 499, error: 'client_abort', bytesOut: 0 });
    }
  });
});

describe('access log of WebSocket upgrades, written by the whole proxy', () => {
  it('writes JSON lines for policy answers (429, a redirect) and a 101, in the fields of an HTTP request', async () => {
    const backend = await startWsBackend('chat-1');
    cleanups.push(() => backend.close());
    const accessLog = path.join(testTempDir('ws-log'), 'access.log');
    const proxy = await startApp({
      accessLog,
      routes: [
        { host: 'chat.example.com', path: '/moved', service: 'chat', redirect: { to: 'https://{host}/socket', status: 308 } },
        { host: 'chat.example.com', service: 'chat', rateLimit: { rate: '1/m', burst: 1, key: 'route' } },
      ],
    });
    cleanups.push(() => proxy.stop());
    await proxy.register({ service: 'chat', id: 'chat-1', host: '127.0.0.1', port: backend.port });

    const ws = await open(proxy.port, 'chat.example.com', '/live', { 'x-request-id': 'app-101' });
    ws.close(1000);
    await closed(ws);
    expect(await rawUpgrade(proxy.port, '/live', { Host: 'chat.example.com', 'X-Request-Id': 'app-429' })).toMatch(/^HTTP\/1\.1 429 /);
    expect(await rawUpgrade(proxy.port, '/moved', { Host: 'chat.example.com', 'X-Request-Id': 'app-308' })).toMatch(/^HTTP\/1\.1 308 /);

    const lines = await waitFor('three access-log lines', () => {
      const text = readFileSync(accessLog, 'utf8');
      const parsed = text.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
      return parsed.length >= 3 && parsed;
    });
    await sleep(300);
    expect(readFileSync(accessLog, 'utf8').trim().split('\n')).toHaveLength(3);
    const byId = new Map(lines.map((line) => [line.requestId, line]));
    expect(byId.get('app-101')).toMatchObject({
      msg: 'request',
      method: 'GET',
      host: 'chat.example.com',
      path: '/live',
      service: 'chat',
      routeId: 'route[1]',
      instance: 'chat/chat-1',
      status: 101,
      retries: 0,
      protocol: 'HTTP/1.1',
    });
    for (const field of ['bytesIn', 'bytesOut', 'durationMs', 'upstreamMs']) expect(typeof byId.get('app-101')![field]).toBe('number');
    expect(byId.get('app-429')).toMatchObject({ status: 429, error: 'rate_limited', service: 'chat', routeId: 'route[1]' });
    expect(byId.get('app-308')).toMatchObject({ status: 308, service: 'chat', routeId: 'route[0]' });
    expect(byId.get('app-308')!.error).toBeUndefined();
  });

  it('still writes the line of a WebSocket open at a graceful stop before the log closes', async () => {
    const backend = await startWsBackend('chat-1');
    cleanups.push(() => backend.close());
    const accessLog = path.join(testTempDir('ws-log-stop'), 'access.log');
    const proxy = await startApp({ accessLog, timeouts: { grace: '100ms' } });
    await proxy.register({ service: 'chat', id: 'chat-1', host: '127.0.0.1', port: backend.port });
    const ws = await open(proxy.port, 'chat.localhost', '/', { 'x-request-id': 'app-stop' });
    const closing = closed(ws);
    await proxy.stop();
    expect(await closing).toBe(1001);
    const lines = readFileSync(accessLog, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ requestId: 'app-stop', status: 101, service: 'chat' });
  });
});
