/**
 * KeepAliveSweep on a real node:http server (keepAliveTimeout 0, as the listener runs it)
 * and real client sockets: an idle keep-alive connection is closed once it has been idle
 * for the limit, and never one that is busy, waiting for its answer, or upgraded.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { KeepAliveSweep } from '../../../src/proxy/keep-alive-sweep.js';
import { sleep } from '../../helpers/wait.js';

const IDLE_MS = 400;
const INTERVAL_MS = 100;

interface Server {
  server: http.Server;
  sweep: KeepAliveSweep;
  port: number;
}

let running: Server | undefined;
const clients: net.Socket[] = [];
/** Server sides of upgraded connections: node:http no longer closes them. */
const upgraded: net.Socket[] = [];

afterEach(async () => {
  for (const socket of [...clients.splice(0), ...upgraded.splice(0)]) socket.destroy();
  if (running !== undefined) {
    running.sweep.stop();
    running.server.closeAllConnections();
    await new Promise((resolve) => running!.server.close(resolve));
    running = undefined;
  }
});

async function start(handler: http.RequestListener = (_req, res) => res.end('ok')): Promise<Server> {
  const server = http.createServer({ keepAliveTimeout: 0 }, handler);
  const sweep = new KeepAliveSweep(IDLE_MS, INTERVAL_MS);
  server.on('connection', (socket: net.Socket) => sweep.watch(socket));
  server.on('upgrade', (_req, socket: net.Socket) => {
    upgraded.push(socket);
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  running = { server, sweep, port: (server.address() as AddressInfo).port };
  return running;
}

/** A client connection that records when the server closed it and the answers it got. */
function connect(port: number): { socket: net.Socket; closedAt: () => number | undefined; received: () => string } {
  const socket = net.connect(port, '127.0.0.1');
  clients.push(socket);
  let closedAt: number | undefined;
  let received = '';
  socket.on('data', (chunk) => (received += chunk.toString('latin1')));
  socket.on('error', () => {});
  socket.on('close', () => (closedAt = Date.now()));
  return { socket, closedAt: () => closedAt, received: () => received };
}

const REQUEST = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';

async function answered(received: () => string, count: number): Promise<void> {
  for (let i = 0; i < 200 && (received().match(/HTTP\/1\.1 200/g) ?? []).length < count; i++) await sleep(10);
  expect((received().match(/HTTP\/1\.1 200/g) ?? []).length).toBe(count);
}

describe('KeepAliveSweep', () => {
  it('closes a keep-alive connection idle for the limit, not before', async () => {
    const { port, sweep } = await start();
    const client = connect(port);
    client.socket.write(REQUEST);
    await answered(client.received, 1);
    const idleFrom = Date.now();
    expect(sweep.size).toBe(1);
    for (let i = 0; i < 300 && client.closedAt() === undefined; i++) await sleep(10);
    const idle = client.closedAt()! - idleFrom;
    // Closed after the limit, within one interval more (plus timer slack on a busy machine).
    expect(idle).toBeGreaterThanOrEqual(IDLE_MS - 20);
    expect(idle).toBeLessThan(IDLE_MS + INTERVAL_MS + 1_000);
    expect(sweep.size).toBe(0);
  });

  it('keeps a connection that sends requests more often than the limit', async () => {
    const { port } = await start();
    const client = connect(port);
    for (let i = 1; i <= 8; i++) {
      client.socket.write(REQUEST);
      await answered(client.received, i);
      await sleep(IDLE_MS / 2);
    }
    expect(client.closedAt()).toBeUndefined();
  });

  it('keeps a connection whose answer takes longer than the limit', async () => {
    const { port } = await start((_req, res) => setTimeout(() => res.end('late'), IDLE_MS * 3));
    const client = connect(port);
    client.socket.write(REQUEST);
    await answered(client.received, 1);
    expect(client.closedAt()).toBeUndefined();
  });

  it('leaves an upgraded connection alone', async () => {
    const { port, sweep } = await start();
    const client = connect(port);
    client.socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n');
    for (let i = 0; i < 200 && !client.received().includes('101'); i++) await sleep(10);
    expect(client.received()).toMatch(/^HTTP\/1\.1 101 /);
    await sleep(IDLE_MS * 3);
    expect(client.closedAt()).toBeUndefined();
    expect(sweep.size).toBe(0);
  });

  it('forgets a connection the client closed', async () => {
    const { port, sweep } = await start();
    const client = connect(port);
    client.socket.write(REQUEST);
    await answered(client.received, 1);
    client.socket.end();
    for (let i = 0; i < 200 && sweep.size > 0; i++) await sleep(10);
    expect(sweep.size).toBe(0);
  });
});
