/**
 * Configuration reload through a whole Waypost (src/app.ts wiring) and the real admin
 * API: the config file is rewritten on disk and `POST /v1/admin/reload` applies it.
 * New listeners and routes serve at once while what was open (a long request, a
 * WebSocket, a TLS keep-alive connection) runs on; an invalid file or a change that
 * needs a restart is refused whole and the old configuration keeps serving.
 */
import https from 'node:https';
import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { get, reloadFixtures } from './reload-harness.js';
import { certDir, startWsBackend, type WsBackend } from './stream-harness.js';

const { defer, proxy, backend } = reloadFixtures('reload');

function openWebSocket(port: number, host: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { host } });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function ask(ws: WebSocket, message: string): Promise<string> {
  return new Promise((resolve) => {
    ws.once('message', (data: Buffer) => resolve(data.toString()));
    ws.send(message);
  });
}

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

describe('config reload', () => {
  it('adds a route and a listener while a long request and a WebSocket on the old listener keep running', async () => {
    const alpha = await backend('alpha');
    const beta = await backend('beta');
    const chat: WsBackend = await startWsBackend('chat');
    defer(() => chat.close());
    // A grace far shorter than the long request: closing the old listener would cut it.
    const base = { listen: '127.0.0.1:0', routes: [{ path: '/alpha', service: 'alpha' }], timeouts: { grace: '100ms' } };
    const p = await proxy(base);
    await p.register('alpha', alpha.port);
    await p.register('beta', beta.port);
    await p.register('chat', chat.port);
    const port = p.app.addresses.http[0]!.port;
    expect((await get(port, 'x.test', '/beta')).status).toBe(404);

    const long = get(port, 'x.test', '/alpha/long', { 'x-test': 'slow=1500' });
    const ws = await openWebSocket(port, 'chat.localhost');
    expect(await ask(ws, 'who')).toBe('chat');
    await waitFor('the long request at the backend', () => alpha.requests >= 1);

    const added = await freePort();
    p.write({ ...base, listen: [{ address: '127.0.0.1:0' }, { address: `127.0.0.1:${added}` }], routes: [...base.routes, { path: '/beta', service: 'beta' }] });
    const { status, body } = await p.reload();
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'reloaded', changed: ['listen', 'routes'], listeners: { added: [`127.0.0.1:${added}`], removed: [] } });

    // The new route on the old listener, and the new listener, serve at once.
    expect((await get(port, 'x.test', '/beta')).status).toBe(200);
    expect((await get(added, 'x.test', '/beta')).status).toBe(200);
    // What was open before the reload was never touched.
    const finished = await long;
    expect(finished.status).toBe(200);
    expect(JSON.parse(finished.body)).toMatchObject({ backend: 'alpha', url: '/alpha/long' });
    expect(await ask(ws, 'still here')).toBe('still here');
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
    expect(await p.metrics()).toMatch(/waypost_config_reloads_total\{result="success"\} 1/);
  });

  it('closes a removed listener (it stops accepting) and leaves the other one serving', async () => {
    const alpha = await backend('alpha');
    const removed = await freePort();
    const p = await proxy({ listen: [{ address: '127.0.0.1:0' }, { address: `127.0.0.1:${removed}` }], routes: [{ path: '/', service: 'alpha' }] });
    await p.register('alpha', alpha.port);
    const kept = p.app.addresses.http.find((a) => a.port !== removed)!.port;
    expect((await get(removed, 'x.test', '/')).status).toBe(200);

    p.write({ listen: '127.0.0.1:0', routes: [{ path: '/', service: 'alpha' }] });
    const { status, body } = await p.reload();
    expect(status).toBe(200);
    expect(body).toMatchObject({ listeners: { added: [], removed: [`127.0.0.1:${removed}`] } });
    await waitFor('the removed listener to refuse connections', () => refuses(removed));
    expect((await get(kept, 'x.test', '/')).status).toBe(200);
    expect(p.app.addresses.http.map((a) => a.port)).toEqual([kept]);
  });

  it('rejects an invalid file whole with 400 naming the field, keeps serving the old routes and counts the failure', async () => {
    const alpha = await backend('alpha');
    const base = { listen: '127.0.0.1:0', routes: [{ path: '/alpha', service: 'alpha' }] };
    const p = await proxy(base);
    await p.register('alpha', alpha.port);
    const port = p.app.addresses.http[0]!.port;

    // A valid new route next to an invalid one: nothing of the file applies.
    p.write({ ...base, routes: [{ path: '/beta', service: 'alpha' }, { path: 'no-slash', service: 'alpha' }] });
    const { status, body } = await p.reload();
    expect(status).toBe(400);
    expect(body).toMatchObject({ error: 'invalid', field: 'routes.1.path' });
    expect(String(body.message)).toMatch(/^routes\.1\.path: must start with "\/", got "no-slash" \(from config file .*waypost\.yaml\)$/);
    expect((await get(port, 'x.test', '/alpha')).status).toBe(200);
    expect((await get(port, 'x.test', '/beta')).status).toBe(404);
    const metrics = await p.metrics();
    expect(metrics).toMatch(/waypost_config_reloads_total\{result="failure"\} 1/);
    expect(metrics).toMatch(/waypost_config_reloads_total\{result="success"\} 0/);
    expect(metrics).toMatch(/waypost_config_last_reload_success_timestamp_seconds \d+/);
  });

  it('refuses a change to a field that needs a restart (409 naming it) and one without the admin token (401)', async () => {
    const base = { listen: '127.0.0.1:0', registry: { ttl: '30s' }, routes: [] };
    const p = await proxy(base);
    p.write({ ...base, registry: { ttl: '10s' }, routes: [{ path: '/new', service: 'alpha' }] });
    expect((await p.reload('wrong-token')).status).toBe(401);
    const { status, body } = await p.reload();
    expect(status).toBe(409);
    expect(body).toMatchObject({ error: 'conflict', field: 'registry.ttl', message: 'registry.ttl cannot change on reload; restart the proxy to change it' });
    expect(p.app.config.registry.ttl).toBe(30_000);
    expect(p.app.config.routes).toEqual([]);
  });

  it('refuses a reload whose new listener cannot bind, applying nothing of it', async () => {
    const alpha = await backend('alpha');
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    defer(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const takenPort = (taken.address() as net.AddressInfo).port;
    const base = { listen: '127.0.0.1:0', routes: [{ path: '/alpha', service: 'alpha' }] };
    const p = await proxy(base);
    await p.register('alpha', alpha.port);
    const port = p.app.addresses.http[0]!.port;

    p.write({ listen: [{ address: '127.0.0.1:0' }, { address: `127.0.0.1:${takenPort}` }], routes: [{ path: '/beta', service: 'alpha' }] });
    const { status, body } = await p.reload();
    expect(status).toBe(500);
    expect(String(body.message)).toContain(`cannot bind the new listener 127.0.0.1:${takenPort}`);
    expect((await get(port, 'x.test', '/alpha')).status).toBe(200);
    expect((await get(port, 'x.test', '/beta')).status).toBe(404);
    expect(p.app.addresses.http).toHaveLength(1);
  });

  it('serves a new certificate to new handshakes while an open TLS connection keeps working', async () => {
    const alpha = await backend('alpha');
    const certs = certDir();
    defer(() => certs.cleanup());
    const first = certs.make('first', 'first', ['app.test']);
    const second = certs.make('second', 'second', ['app.test']);
    const doc = (pair: typeof first) => ({
      listen: [{ address: '127.0.0.1:0', tls: true, protocols: ['http1'] }],
      tls: { certificates: [{ hosts: ['app.test'], cert: pair.certFile, key: pair.keyFile }] },
      routes: [{ path: '/', service: 'alpha' }],
    });
    const p = await proxy(doc(first));
    await p.register('alpha', alpha.port);
    const port = p.app.addresses.http[0]!.port;
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    defer(() => agent.destroy());
    const before = await tlsGet(port, agent);
    expect(before).toMatchObject({ status: 200, cn: 'first', reused: false });

    p.write(doc(second));
    expect((await p.reload()).status).toBe(200);
    expect(await tlsGet(port, false)).toMatchObject({ status: 200, cn: 'second' });
    // The keep-alive connection negotiated before the reload still serves, with its certificate.
    expect(await tlsGet(port, agent)).toMatchObject({ status: 200, cn: 'first', reused: true, localPort: before.localPort });
  });
});

function tlsGet(port: number, agent: https.Agent | false): Promise<{ status: number; cn: string; reused: boolean; localPort: number }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, path: '/', servername: 'app.test', headers: { host: 'app.test' }, rejectUnauthorized: false, agent },
      (res) => {
        const socket = res.socket as TLSSocket;
        const cn = String(socket.getPeerCertificate().subject?.CN);
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, cn, reused: req.reusedSocket, localPort: socket.localPort ?? 0 }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}
