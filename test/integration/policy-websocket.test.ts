/** A route's request policy applies to WebSocket upgrades too (DESIGN §8): a denied client never reaches the backend. */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startApp, type TestApp } from '../helpers/app.js';
import { startWsBackend, type WsBackend } from './stream-harness.js';

let proxy: TestApp | undefined;
let backend: WsBackend | undefined;
afterEach(async () => {
  await proxy?.stop();
  await backend?.close();
});

interface UpgradeAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function upgrade(port: number, path = '/'): Promise<UpgradeAnswer> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers: { host: 'chat.example.com' }, followRedirects: false });
    socket.once('upgrade', (res) => {
      socket.close();
      resolve({ status: 101, headers: res.headers, body: '' });
    });
    socket.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    socket.once('error', reject);
  });
}

async function upgradeStatus(port: number): Promise<number> {
  return (await upgrade(port)).status;
}

describe('route policy on WebSocket upgrades', () => {
  it('refuses an upgrade from a denied client address with 403 and lets an allowed one through', async () => {
    backend = await startWsBackend('chat-1');
    proxy = await startApp({ routes: [{ host: 'chat.example.com', service: 'chat', clientCidrs: { deny: ['127.0.0.0/8'] } }] });
    await proxy.register({ service: 'chat', id: 'chat-1', host: '127.0.0.1', port: backend.port });
    expect(await upgradeStatus(proxy.port)).toBe(403);
    expect(backend.server.clients.size).toBe(0);
    await proxy.stop();
    proxy = await startApp({ routes: [{ host: 'chat.example.com', service: 'chat', clientCidrs: { allow: ['127.0.0.0/8'] } }] });
    await proxy.register({ service: 'chat', id: 'chat-1', host: '127.0.0.1', port: backend.port });
    expect(await upgradeStatus(proxy.port)).toBe(101);
  });

  it('answers a rate-limited upgrade 429 with Retry-After and RateLimit headers', async () => {
    backend = await startWsBackend('chat-1');
    proxy = await startApp({ routes: [{ host: 'chat.example.com', service: 'chat', rateLimit: { rate: '1/m', burst: 1, key: 'route' } }] });
    await proxy.register({ service: 'chat', id: 'chat-1', host: '127.0.0.1', port: backend.port });
    expect((await upgrade(proxy.port)).status).toBe(101);
    const refused = await upgrade(proxy.port);
    expect(refused.status).toBe(429);
    expect(refused.headers['x-waypost-error']).toBe('rate_limited');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.headers['ratelimit']).toBeDefined();
    expect(JSON.parse(refused.body).error).toBe('rate_limited');
  });

  it('sends a redirect made by the policy with its Location, and a rewritten path upstream', async () => {
    backend = await startWsBackend('chat-1');
    const paths: string[] = [];
    backend.server.on('connection', (_ws, req) => paths.push(req.url ?? ''));
    proxy = await startApp({
      routes: [
        { host: 'chat.example.com', path: '/moved', service: 'chat', redirect: { to: 'https://{host}/socket', status: 308 } },
        { host: 'chat.example.com', path: '/old', service: 'chat', rewrite: { prefix: { from: '/old', to: '/new' } } },
      ],
    });
    await proxy.register({ service: 'chat', id: 'chat-1', host: '127.0.0.1', port: backend.port });
    const moved = await upgrade(proxy.port, '/moved');
    expect(moved.status).toBe(308);
    expect(moved.headers.location).toBe('https://chat.example.com/socket');
    expect((await upgrade(proxy.port, '/old/room?x=1')).status).toBe(101);
    expect(paths).toEqual(['/new/room?x=1']);
  });
});
