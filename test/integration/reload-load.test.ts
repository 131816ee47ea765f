/**
 * The reload-under-load check: a bounded keep-alive load runs through 20 reloads
 * (routes and a second listener coming and going, one invalid file among them) and loses no
 * request, while a WebSocket and an HTTP/2 stream opened before the first reload stay open
 * to the end.
 */
import http2 from 'node:http2';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startLoad } from '../helpers/load.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { get, reloadFixtures } from './reload-harness.js';
import { startWsBackend } from './stream-harness.js';

const { defer, proxy, backend } = reloadFixtures('reload-load');

describe('config reload under load', () => {
  it('loses no request over 20 reloads (one invalid) and keeps a WebSocket and an HTTP/2 stream open', async () => {
    const alpha = await backend('alpha');
    const chat = await startWsBackend('chat');
    defer(() => chat.close());
    const extra = await freePort();
    const doc = (n: number) => ({
      listen: n % 2 === 0 ? [{ address: '127.0.0.1:0' }] : [{ address: '127.0.0.1:0' }, { address: `127.0.0.1:${extra}` }],
      routes: [{ path: '/alpha', service: 'alpha' }, ...(n % 2 === 0 ? [] : [{ path: '/beta', service: 'alpha' }])],
      timeouts: { grace: '200ms' },
    });
    const p = await proxy(doc(0));
    await p.register('alpha', alpha.port);
    await p.register('chat', chat.port);
    const port = p.app.addresses.http[0]!.port;

    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { host: 'chat.localhost' } });
    defer(() => ws.terminate());
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const session = http2.connect(`http://127.0.0.1:${port}`);
    defer(() => void session.destroy());
    const stream = session.request({ ':method': 'POST', ':path': '/alpha/echo', ':authority': 'x.test', 'x-test': 'echo-body' });
    let echoed = '';
    stream.on('data', (chunk: Buffer) => (echoed += chunk.toString()));
    const ended = new Promise<void>((resolve, reject) => stream.once('end', resolve).once('error', reject));
    stream.write('before-');

    const load = startLoad({ port, host: 'x.test', path: '/alpha', concurrency: 16 });
    const statuses: number[] = [];
    for (let n = 1; n <= 20; n++) {
      // Each reload lands on a connection pool that is busy: at least 50 more requests since the last one.
      const sentBefore = load.sent;
      await waitFor('50 requests between reloads', () => load.sent >= sentBefore + 50, { timeoutMs: 10_000 });
      if (n === 10) p.write({ ...doc(n), routes: [{ path: 'broken', service: 'alpha' }] });
      else p.write(doc(n));
      statuses.push((await p.reload()).status);
      // While a reload is in force, what it added serves.
      if (n !== 10 && n % 2 === 1) expect((await get(extra, 'x.test', '/beta')).status).toBe(200);
    }
    const report = await load.stop();
    console.log(`20 reloads (one invalid) under a 16-connection keep-alive load: ${report.sent} requests sent, ${report.failed} lost`);

    expect(statuses).toEqual(Array.from({ length: 20 }, (_, i) => (i + 1 === 10 ? 400 : 200)));
    expect(report.sent).toBeGreaterThan(20 * 50);
    expect(report.samples).toEqual([]);
    expect(report.failed).toBe(0);
    const answer = await new Promise<string>((resolve) => {
      ws.once('message', (data: Buffer) => resolve(data.toString()));
      ws.send('after 20 reloads');
    });
    expect(answer).toBe('after 20 reloads');
    stream.end('after');
    await ended;
    expect(echoed).toBe('before-after');
    expect(await p.metrics()).toMatch(/waypost_config_reloads_total\{result="success"\} 19/);
  });
});
