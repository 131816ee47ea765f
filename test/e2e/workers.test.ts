import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type Backend } from '../helpers/backends.js';
import { startProxyProcess, type RunningProxy } from '../helpers/cli.js';
import { statusOf } from '../helpers/http.js';
import { readUntil, waitFor } from '../helpers/wait.js';
import { tempDir } from '../helpers/temp-dir.js';

const dir = tempDir('workers');
const accessLogFile = path.join(dir, 'access.log');
let backend: Backend;
let proxy: RunningProxy;

beforeAll(async () => {
  backend = await startBackend({ name: 'w1' });
  const config = path.join(dir, 'waypost.yaml');
  writeFileSync(config, `domains: [localhost]\naccessLog: ${accessLogFile}\n`);
  // Port 0 with cluster: workers share the primary's listening handle, so one port serves all.
  proxy = await startProxyProcess(['--config', config, '--workers', '2', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], {
    timeoutMs: 25_000,
  });
}, 30_000);

afterAll(async () => {
  await proxy?.stop('SIGKILL');
  await backend?.close();
});


async function admin(pathname: string, init?: RequestInit): Promise<Response> {
  return fetch(`http://127.0.0.1:${proxy.admin.port}${pathname}`, init);
}

function accessLogPids(): Set<number> {
  let text = '';
  try {
    text = readFileSync(accessLogFile, 'utf8');
  } catch {
    return new Set();
  }
  const lines = text.trim().split('\n').filter(Boolean);
  return new Set(lines.map((line) => (JSON.parse(line) as { pid: number }).pid));
}

describe('waypost proxy --workers 2', () => {
  it('routes to an instance registered through the single admin API from both workers and sums their metrics', async () => {
    const register = await admin('/v1/services/orders/instances', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'o1', host: '127.0.0.1', port: backend.port, ttl: 600 }),
    });
    expect(register.status).toBe(201);
    const port = proxy.http[0]!.port;

    // The workers' mirrors follow the primary over IPC: wait until the route exists.
    await waitFor('the route to orders', async () => (await statusOf(port, 'orders.localhost')) === 200, { intervalMs: 50 });

    const statuses = [];
    for (let i = 0; i < 20; i++) statuses.push(await statusOf(port, 'orders.localhost'));
    expect(statuses).toEqual(Array.from({ length: 20 }, () => 200));

    // Each access-log line carries the pid of the worker that served it.
    const pids = await readUntil('access-log lines of two workers', accessLogPids, (p) => p.size >= 2, { intervalMs: 50 });
    expect(pids.size).toBe(2);
    expect(pids.has(proxy.child.pid!)).toBe(false);

    const text = await (await admin('/metrics')).text();
    const served = Number(/^waypost_requests_total\{service="orders",code="200"\} (\d+)$/m.exec(text)?.[1]);
    expect(served).toBe(backend.requests);
    // Registry series come from the primary once, not once per worker.
    expect(text).toMatch(/^waypost_registry_events_total\{type="register"\} 1$/m);
    expect(text.match(/^# TYPE waypost_requests_total counter$/gm)).toHaveLength(1);
  });

  it('restarts a worker that dies and keeps serving', async () => {
    const [victim] = [...accessLogPids()];
    process.kill(victim!, 'SIGKILL');
    expect(await readUntil('the restart log line', proxy.output, (out) => out.includes('"worker restarted"'), { timeoutMs: 10_000, intervalMs: 50 })).toContain(
      '"worker restarted"',
    );
    expect(proxy.output()).toContain('"worker died unexpectedly; restarting"');
    const port = proxy.http[0]!.port;
    for (let i = 0; i < 6; i++) expect(await statusOf(port, 'orders.localhost')).toBe(200);
  }, 15_000);

  it('SIGHUP to the primary makes every worker reopen the access log', async () => {
    const rotated = `${accessLogFile}.1`;
    renameSync(accessLogFile, rotated);
    proxy.child.kill('SIGHUP');
    const port = proxy.http[0]!.port;
    // Both workers must write to the new file: send until lines from two pids are there.
    const statuses = new Set<number>();
    const sendAndRead = async (): Promise<Set<number>> => {
      statuses.add(await statusOf(port, 'orders.localhost'));
      return accessLogPids();
    };
    const after = await readUntil('new-file lines of two workers', sendAndRead, (p) => p.size >= 2, { timeoutMs: 10_000, intervalMs: 50 });
    expect(after.size).toBe(2);
    expect([...statuses]).toEqual([200]);
    expect(readFileSync(rotated, 'utf8').length).toBeGreaterThan(0);
  }, 25_000);

  it('stops gracefully on SIGTERM and exits 0', async () => {
    const stopped = proxy.stop('SIGTERM');
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 15_000).unref());
    const result = await Promise.race([stopped, timeout]);
    if (result === 'timeout') throw new Error(`did not exit within 15 s:\n${proxy.output().split('\n').slice(-12).join('\n')}`);
    expect(result.code).toBe(0);
  }, 20_000);
});
