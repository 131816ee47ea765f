/**
 * Raw TCP listeners through a whole Waypost (src/app.ts wiring, memory store):
 * byte-exact piping with half-close, connect retry, idle timeout, the
 * max-connections limit, resets mid-stream, and SNI pass-through.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { deadPort } from '../helpers/ports.js';
import {
  certDir,
  startStreamApp,
  startTcpBackend,
  startTlsBackend,
  waitUntil,
  type StreamApp,
  type TcpBackend,
} from './stream-harness.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await Promise.resolve(cleanups.pop()!()).catch(() => {});
});

type TcpInput = { service: string; [key: string]: unknown };

async function app(tcp: TcpInput[], overrides: Parameters<typeof startStreamApp>[0] = {}): Promise<StreamApp> {
  const started = await startStreamApp({ tcp: tcp.map((t) => ({ listen: '127.0.0.1:0', ...t })) as never, ...overrides });
  cleanups.push(() => started.stop());
  return started;
}

async function backend(onSocket?: Parameters<typeof startTcpBackend>[0]): Promise<TcpBackend> {
  const started = await startTcpBackend(onSocket);
  cleanups.push(() => started.close());
  return started;
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Writes `data`, half-closes, and resolves with everything read until the peer ends. */
function exchange(socket: net.Socket, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
    socket.end(data);
  });
}

function echoOnce(socket: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('data', (chunk: Buffer) => resolve(chunk.toString()));
    socket.once('error', reject);
    socket.write(text);
  });
}

function closedOf(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describe('TCP listeners', () => {
  it('pipes 10 MiB both ways byte-exact and passes the half-close through', async () => {
    const echo = await backend();
    const proxy = await app([{ service: 'db' }]);
    await proxy.register({ service: 'db', id: 'a', host: '127.0.0.1', port: echo.port });
    const payload = randomBytes(10 * 1024 * 1024);
    const socket = await connect(proxy.tcpPorts[0]!);
    const echoed = await exchange(socket, payload);
    expect(echoed.length).toBe(payload.length);
    expect(sha256(echoed)).toBe(sha256(payload));
    await closedOf(socket);
    await waitUntil(() => proxy.app.connections.size === 0);
  });

  it('retries a refused connect on another instance, and counts the refusal', async () => {
    const echo = await backend();
    const dead = await deadPort();
    const proxy = await app([{ service: 'db', balancer: 'round-robin' }]);
    await proxy.register({ service: 'db', id: 'dead', host: '127.0.0.1', port: dead, weight: 10_000 });
    await proxy.register({ service: 'db', id: 'live', host: '127.0.0.1', port: echo.port, weight: 1 });
    const socket = await connect(proxy.tcpPorts[0]!);
    // Sent before the proxy has any upstream: held and delivered after the retry.
    expect((await exchange(socket, Buffer.from('early bytes'))).toString()).toBe('early bytes');
    const metrics = await proxy.app.metrics.text();
    expect(metrics).toContain('waypost_upstream_errors_total{service="db",reason="connect_refused"} 1');
    expect(metrics).toContain('waypost_retries_total{service="db"} 1');
  });

  it('closes a connection that stays idle longer than timeouts.idle', async () => {
    const echo = await backend();
    const proxy = await app([{ service: 'db', timeouts: { idle: '200ms' } }]);
    await proxy.register({ service: 'db', id: 'a', host: '127.0.0.1', port: echo.port });
    const socket = await connect(proxy.tcpPorts[0]!);
    expect(await echoOnce(socket, 'ping')).toBe('ping');
    await closedOf(socket);
    await waitUntil(() => echo.sockets.size === 0);
  });

  it('refuses connections beyond maxConnections and keeps serving the open ones', async () => {
    const echo = await backend();
    const proxy = await app([{ service: 'db', maxConnections: 2 }]);
    await proxy.register({ service: 'db', id: 'a', host: '127.0.0.1', port: echo.port });
    const first = await connect(proxy.tcpPorts[0]!);
    const second = await connect(proxy.tcpPorts[0]!);
    expect(await echoOnce(first, 'one')).toBe('one');
    expect(await echoOnce(second, 'two')).toBe('two');
    const third = await connect(proxy.tcpPorts[0]!);
    third.on('error', () => {});
    const received: Buffer[] = [];
    third.on('data', (chunk: Buffer) => received.push(chunk));
    third.write('three');
    await closedOf(third);
    expect(received).toEqual([]);
    expect(await echoOnce(first, 'still')).toBe('still');
    const label = `tcp:127.0.0.1:${proxy.tcpPorts[0]}`;
    expect(await proxy.app.metrics.text()).toContain(`waypost_active_connections{listener="${label}"} 2`);
    first.destroy();
    second.destroy();
  });

  it('stays up when backends reset connections mid-stream', async () => {
    const resetting = await backend((socket) => {
      socket.write(Buffer.alloc(64 * 1024, 1), () => socket.resetAndDestroy());
    });
    const echo = await backend();
    const proxy = await app([{ service: 'flaky' }, { service: 'db' }]);
    await proxy.register({ service: 'flaky', id: 'r', host: '127.0.0.1', port: resetting.port });
    await proxy.register({ service: 'db', id: 'a', host: '127.0.0.1', port: echo.port });
    for (let i = 0; i < 20; i++) {
      const socket = await connect(proxy.tcpPorts[0]!);
      socket.on('error', () => {});
      socket.on('data', () => {});
      socket.write(Buffer.alloc(1024, 2));
      await closedOf(socket);
    }
    const socket = await connect(proxy.tcpPorts[1]!);
    expect((await exchange(socket, Buffer.from('alive'))).toString()).toBe('alive');
    await waitUntil(() => proxy.app.connections.size === 0);
  });

  it('routes TLS connections by SNI to the right service without terminating TLS', async () => {
    const certs = certDir();
    cleanups.push(() => certs.cleanup());
    const alpha = await startTlsBackend('alpha', certs.make('alpha', 'alpha.test', ['alpha.test']));
    const beta = await startTlsBackend('beta', certs.make('beta', 'beta.test', ['*.beta.test']));
    cleanups.push(() => alpha.close(), () => beta.close());
    const proxy = await app([{ service: 'alpha', sniRoutes: { 'alpha.test': 'alpha', '*.beta.test': 'beta' } }]);
    await proxy.register({ service: 'alpha', id: 'a', host: '127.0.0.1', port: alpha.port });
    await proxy.register({ service: 'beta', id: 'b', host: '127.0.0.1', port: beta.port });

    const hello = (servername: string): Promise<{ line: string; cn: string }> =>
      new Promise((resolve, reject) => {
        const socket = tls.connect({ port: proxy.tcpPorts[0]!, host: '127.0.0.1', servername, rejectUnauthorized: false }, () => {
          const cn = String(socket.getPeerCertificate().subject.CN);
          socket.once('data', (chunk: Buffer) => {
            resolve({ line: chunk.toString().trim(), cn });
            socket.end();
          });
        });
        socket.once('error', reject);
      });
    expect(await hello('alpha.test')).toEqual({ line: 'alpha:alpha.test', cn: 'alpha.test' });
    expect(await hello('api.beta.test')).toEqual({ line: 'beta:api.beta.test', cn: 'beta.test' });
    // An unknown name goes to the listener's own service.
    expect(await hello('other.test')).toEqual({ line: 'alpha:other.test', cn: 'alpha.test' });

    // Not TLS at all: closed without reaching any backend.
    const garbage = await connect(proxy.tcpPorts[0]!);
    garbage.on('error', () => {});
    garbage.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await closedOf(garbage);
  });
});
