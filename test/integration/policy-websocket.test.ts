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

function upgradeStatus(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { host: 'chat.example.com' } });
    socket.once('open', () => {
      socket.close();
      resolve(101);
    });
    socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    socket.once('error', reject);
  });
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
});
