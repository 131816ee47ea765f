/**
 * Configuration reload, the parts beside HTTP/1.1 listeners: an HTTP/2 stream and a TCP
 * tunnel opened before a reload run on; TCP listeners are added and removed one by one;
 * active health checks restart with the new settings (and a removed check leaves no
 * verdict behind).
 */
import http2 from 'node:http2';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { get, reloadFixtures } from './reload-harness.js';
import { startTcpBackend } from './stream-harness.js';

const { defer, proxy, backend } = reloadFixtures('reload-streams');

function h2get(session: http2.ClientHttp2Session, path: string, headers: http2.OutgoingHttpHeaders = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path, ':authority': 'x.test', ...headers });
    let status = 0;
    let body = '';
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('data', (chunk: Buffer) => (body += chunk.toString()));
    stream.on('end', () => resolve({ status, body }));
    stream.on('error', reject);
    stream.end();
  });
}

function tcpConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

function echo(socket: net.Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    socket.once('data', (data: Buffer) => resolve(data.toString()));
    socket.write(text);
  });
}

function refuses(port: number): Promise<boolean> {
  return tcpConnect(port).then(
    (socket) => {
      socket.destroy();
      return false;
    },
    () => true,
  );
}

describe('config reload: streams, tcp listeners, health', () => {
  it('keeps an HTTP/2 stream and a TCP tunnel running; adds and removes tcp listeners one by one', async () => {
    const alpha = await backend('alpha');
    const tcpBackend = await startTcpBackend();
    defer(() => tcpBackend.close());
    const [kept, removed, added] = [await freePort(), await freePort(), await freePort()];
    const tcp = (ports: number[]) => ports.map((port) => ({ listen: `127.0.0.1:${port}`, service: 'echo' }));
    // A grace far shorter than the long stream: a touched listener would cut it.
    const base = { listen: '127.0.0.1:0', routes: [{ path: '/alpha', service: 'alpha' }], timeouts: { grace: '100ms' } };
    const p = await proxy({ ...base, tcp: tcp([kept, removed]) });
    await p.register('alpha', alpha.port);
    await p.register('echo', tcpBackend.port);
    const port = p.app.addresses.http[0]!.port;

    const session = http2.connect(`http://127.0.0.1:${port}`);
    defer(() => void session.close());
    const long = h2get(session, '/alpha/long', { 'x-test': 'slow=1500' });
    const tunnel = await tcpConnect(kept);
    defer(() => void tunnel.destroy());
    expect(await echo(tunnel, 'before')).toBe('before');
    await waitFor('the long stream at the backend', () => alpha.requests >= 1);

    p.write({ ...base, routes: [...base.routes, { path: '/beta', service: 'alpha' }], tcp: tcp([kept, added]) });
    const { status, body } = await p.reload();
    expect(status).toBe(200);
    expect(body).toMatchObject({ tcp: { added: [`127.0.0.1:${added}`], removed: [`127.0.0.1:${removed}`] } });

    expect(await long).toMatchObject({ status: 200 });
    // The same HTTP/2 connection takes the new route on its next stream.
    expect(await h2get(session, '/beta')).toMatchObject({ status: 200 });
    expect(await echo(tunnel, 'after')).toBe('after');
    const fresh = await tcpConnect(added);
    defer(() => void fresh.destroy());
    expect(await echo(fresh, 'new listener')).toBe('new listener');
    await waitFor('the removed tcp listener to refuse connections', () => refuses(removed));
  });

  it('restarts active checks with the new settings, and a removed check leaves no verdict behind', async () => {
    const alpha = await backend('alpha');
    // panicThreshold 0: an unhealthy only instance gets no traffic (503) instead of panic routing.
    const base = { listen: '127.0.0.1:0', panicThreshold: 0, routes: [{ path: '/', service: 'alpha' }] };
    const p = await proxy(base);
    await p.register('alpha', alpha.port);
    const port = p.app.addresses.http[0]!.port;
    expect((await get(port, 'x.test', '/')).status).toBe(200);

    // The backend answers 200, which this check does not accept.
    const failing = { alpha: { path: '/healthz', interval: '100ms', timeout: '50ms', fails: 1, expectStatus: [300, 399] } };
    p.write({ ...base, health: { active: failing } });
    expect((await p.reload()).status).toBe(200);
    await waitFor('the check to take alpha out', async () => (await get(port, 'x.test', '/')).status === 503, { timeoutMs: 10_000 });

    p.write(base);
    expect((await p.reload()).status).toBe(200);
    expect((await get(port, 'x.test', '/')).status).toBe(200);
    expect(p.app.activeChecks.probedCount()).toBe(0);
  });
});
