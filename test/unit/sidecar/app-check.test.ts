import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkApp, CheckThresholds } from '../../../src/sidecar/app-check.js';
import { deadPort } from '../../helpers/ports.js';

describe('CheckThresholds', () => {
  /** Results in, the state after each: `U` healthy, `D` not; `!` marks a flip. */
  const run = (initiallyHealthy: boolean, results: string): string => {
    const thresholds = new CheckThresholds({ passes: 2, fails: 3, initiallyHealthy });
    return [...results].map((r) => (thresholds.record(r === '+') ? '!' : '') + (thresholds.healthy ? 'U' : 'D')).join(' ');
  };
  it.each([
    { name: 'stays healthy through fewer failures in a row than fails', healthy: true, results: '--+--+', expected: 'U U U U U U' },
    { name: 'goes down on the third failure in a row', healthy: true, results: '---', expected: 'U U !D' },
    { name: 'comes back up on the second success in a row', healthy: false, results: '+-++', expected: 'D D D !U' },
    { name: 'restarts the streak when a result agrees with the state', healthy: true, results: '--+---', expected: 'U U U U U !D' },
    { name: 'starts down when told to, and a single success does not lift it', healthy: false, results: '+', expected: 'D' },
  ])('$name', ({ healthy, results, expected }) => {
    expect(run(healthy, results)).toBe(expected);
  });
});

describe('checkApp', () => {
  let server: http.Server;
  let port: number;
  let silent: net.Server;
  let silentPort: number;
  const sockets = new Set<net.Socket>();
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const status = Number(req.url?.slice(1)) || 200;
      res.writeHead(status).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    // Accepts connections and never answers: an HTTP check must time out.
    silent = net.createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentPort = (silent.address() as AddressInfo).port;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    server.closeAllConnections();
    await Promise.all([new Promise((r) => server.close(r)), new Promise((r) => silent.close(r))]);
  });

  it.each([
    { name: 'passes an HTTP answer of 200', path: '/200', expected: { ok: true, detail: '200' } },
    { name: 'passes a redirect', path: '/302', expected: { ok: true, detail: '302' } },
    { name: 'fails an HTTP answer of 503', path: '/503', expected: { ok: false, detail: '503' } },
    { name: 'fails an HTTP answer of 404', path: '/404', expected: { ok: false, detail: '404' } },
  ])('$name', async ({ path, expected }) => {
    expect(await checkApp({ host: '127.0.0.1', port, path, timeoutMs: 2000 })).toEqual(expected);
  });

  it('passes a TCP connect when no path is configured', async () => {
    expect(await checkApp({ host: '127.0.0.1', port, timeoutMs: 2000 })).toEqual({ ok: true, detail: 'connected' });
  });

  it('fails a refused connection, HTTP or TCP, naming the error code', async () => {
    const dead = await deadPort();
    expect(await checkApp({ host: '127.0.0.1', port: dead, path: '/', timeoutMs: 2000 })).toEqual({ ok: false, detail: 'ECONNREFUSED' });
    expect(await checkApp({ host: '127.0.0.1', port: dead, timeoutMs: 2000 })).toEqual({ ok: false, detail: 'ECONNREFUSED' });
  });

  it('fails an HTTP check that gets no answer within its timeout', async () => {
    const started = performance.now();
    expect(await checkApp({ host: '127.0.0.1', port: silentPort, path: '/', timeoutMs: 200 })).toEqual({ ok: false, detail: 'timeout' });
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
