/**
 * Configuration reload of a real `dist/cli.js proxy` child: SIGHUP re-reads the file it
 * was started with (flags given on the command line keep winning), and with `--workers 2`
 * `POST /v1/admin/reload` answers only once both workers applied the new configuration.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type Backend } from '../helpers/backends.js';
import { startProxyProcess, type RunningProxy } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { readUntil, waitFor } from '../helpers/wait.js';
import { tempDir } from '../helpers/temp-dir.js';

const SLOW = { timeoutMs: 15_000, intervalMs: 50 };
const dir = tempDir('reload-e2e');
const running: RunningProxy[] = [];
let backend: Backend;

beforeAll(async () => {
  backend = await startBackend({ name: 'web' });
});

afterAll(async () => {
  for (const proxy of running) await proxy.stop('SIGKILL');
  await backend?.close();
});

async function register(proxy: RunningProxy, service: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${proxy.admin.port}/v1/services/${service}/instances`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: `${service}-1`, host: '127.0.0.1', port: backend.port, ttl: 600 }),
  });
  expect(res.status).toBe(201);
}

/** GET `urlPath` on a fresh connection (with workers, each connection may reach another one). */
function pathStatus(port: number, urlPath: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, headers: { host: 'x.test' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
}

async function metric(proxy: RunningProxy, pattern: RegExp): Promise<string | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${proxy.admin.port}/metrics`)).text();
  return pattern.exec(text)?.[1];
}

describe('waypost proxy reload', () => {
  it('SIGHUP applies a new route from the file, keeps the --listen flag winning, and refuses a bad file', async () => {
    const file = path.join(dir, 'sighup.yaml');
    // The file's listen is overridden by --listen, at start and on every reload.
    writeFileSync(file, 'listen: 127.0.0.1:1\naccessLog: off\nroutes: []\n');
    const proxy = await startProxyProcess(['--config', file, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0']);
    running.push(proxy);
    await register(proxy, 'web');
    const port = proxy.http[0]!.port;
    expect(await pathStatus(port, '/api')).toBe(404);

    writeFileSync(file, 'listen: 127.0.0.1:1\naccessLog: off\nroutes: [{ path: /api, service: web }]\n');
    proxy.child.kill('SIGHUP');
    await waitFor('the new route', async () => (await pathStatus(port, '/api')) === 200, SLOW);
    expect(await metric(proxy, /^waypost_config_reloads_total\{result="success"\} (\d+)$/m)).toBe('1');

    writeFileSync(file, 'listen: 127.0.0.1:1\naccessLog: off\nroutes: [{ path: api, service: web }]\n');
    proxy.child.kill('SIGHUP');
    const out = await readUntil('the refused reload log line', proxy.output, (o) => o.includes('configuration reload refused'), SLOW);
    const line = out.split('\n').find((l) => l.includes('configuration reload refused'))!;
    expect(JSON.parse(line)).toMatchObject({ field: 'routes.0.path', trigger: 'SIGHUP' });
    expect(await metric(proxy, /^waypost_config_reloads_total\{result="failure"\} (\d+)$/m)).toBe('1');
    expect(await pathStatus(port, '/api')).toBe(200);
    expect(proxy.child.exitCode).toBe(null);
  });

  it('--workers 2: the reload answers after both workers bound the new listener and route', async () => {
    const file = path.join(dir, 'workers.yaml');
    const accessLog = path.join(dir, 'workers-access.log');
    const [first, second] = [await freePort(), await freePort()];
    const config = (listen: number[], routes: string) =>
      `listen: [${listen.map((p) => `{ address: "127.0.0.1:${p}" }`).join(', ')}]\naccessLog: ${accessLog}\nroutes: ${routes}\n`;
    writeFileSync(file, config([first], '[]'));
    const proxy = await startProxyProcess(['--config', file, '--workers', '2', '--admin', '127.0.0.1:0'], { timeoutMs: 25_000 });
    running.push(proxy);
    await register(proxy, 'web');

    writeFileSync(file, config([first, second], '[{ path: /added, service: web }]'));
    const res = await fetch(`http://127.0.0.1:${proxy.admin.port}/v1/admin/reload`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'reloaded', workers: 2, listeners: { added: [`127.0.0.1:${second}`] } });

    // Fresh connections alternate between the workers: every one must know the new route on the new listener.
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push(await pathStatus(second, '/added'));
    expect(statuses).toEqual(Array.from({ length: 20 }, () => 200));
    const pids = await readUntil('access-log lines for /added from two workers', () => addedPids(accessLog), (p) => p.size >= 2, SLOW);
    expect(pids.has(proxy.child.pid!)).toBe(false);
    expect(await pathStatus(first, '/added')).toBe(200);

    // A worker that dies after the reload comes back on the configuration in force, not on the
    // file (now invalid): it must not crash-loop, and it serves the reloaded route.
    writeFileSync(file, 'routes: [{ path: broken, service: web }]\n');
    const [victim] = [...pids];
    process.kill(victim!, 'SIGKILL');
    await readUntil('the restart log line', proxy.output, (out) => out.includes('"worker restarted"'), SLOW);
    const fresh = await readUntil('a line for /added from the restarted worker', async () => {
      await pathStatus(second, '/added');
      return addedPids(accessLog);
    }, (p) => [...p].some((pid) => !pids.has(pid)), SLOW);
    expect(fresh.size).toBeGreaterThanOrEqual(3);
    const after: number[] = [];
    for (let i = 0; i < 10; i++) after.push(await pathStatus(second, '/added'));
    expect(after).toEqual(Array.from({ length: 10 }, () => 200));
    expect(proxy.output()).not.toContain('exited with code 2');
  }, 40_000);
});

function addedPids(file: string): Set<number> {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return new Set();
  }
  const lines = text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { pid: number; path: string });
  return new Set(lines.filter((l) => l.path === '/added').map((l) => l.pid));
}
