import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startBackend, type Backend } from '../helpers/backends.js';
import { runCli, startProxyProcess, type RunningProxy } from '../helpers/cli.js';
import { statusOf } from '../helpers/http.js';
import { readUntil, waitFor } from '../helpers/wait.js';
import { tempDir } from '../helpers/temp-dir.js';

const dir = tempDir('workers-scheduling');
const lines = (text: string) => text.trim().split('\n').filter(Boolean);
let backend: Backend | undefined;
let proxy: RunningProxy | undefined;

afterAll(async () => {
  await proxy?.stop('SIGKILL');
  await backend?.close();
});

function accessLogPids(file: string): Set<number> {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return new Set();
  }
  return new Set(lines(text).map((line) => (JSON.parse(line) as { pid: number }).pid));
}

describe('NODE_CLUSTER_SCHED_POLICY with --workers 2', () => {
  it('none: the kernel balances accepts and requests are served through both workers', async () => {
    backend = await startBackend({ name: 's1' });
    const accessLog = path.join(dir, 'access.log');
    const config = path.join(dir, 'waypost.yaml');
    writeFileSync(config, `domains: [localhost]\naccessLog: ${accessLog}\n`);
    proxy = await startProxyProcess(['--config', config, '--workers', '2', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], {
      env: { NODE_CLUSTER_SCHED_POLICY: 'none' },
      timeoutMs: 25_000,
    });
    expect(proxy.output()).toContain('"scheduling":"none"');
    const registered = await fetch(`http://127.0.0.1:${proxy.admin.port}/v1/services/orders/instances`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'o1', host: '127.0.0.1', port: backend.port, ttl: 600 }),
    });
    expect(registered.status).toBe(201);
    const port = proxy.http[0]!.port;
    await waitFor('the route to orders', async () => (await statusOf(port, 'orders.localhost')) === 200, { intervalMs: 50 });

    // The kernel gives an accept to whichever worker wakes first, so sequential connections may
    // all reach one worker; concurrent ones in batches reach both sooner or later.
    const statuses = new Set<number>();
    const sendBatch = async (): Promise<Set<number>> => {
      const batch = await Promise.all(Array.from({ length: 16 }, () => statusOf(port, 'orders.localhost')));
      for (const status of batch) statuses.add(status);
      return accessLogPids(accessLog);
    };
    const pids = await readUntil('access-log lines of two workers', sendBatch, (p) => p.size >= 2, { timeoutMs: 20_000, intervalMs: 20 });
    expect(pids.size).toBe(2);
    expect(pids.has(proxy.child.pid!)).toBe(false);
    expect([...statuses]).toEqual([200]);
  }, 60_000);

  it('an unknown value is a usage error naming the variable (exit 2, one line)', async () => {
    const result = await runCli(['proxy', '--workers', '2', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], {
      env: { NODE_CLUSTER_SCHED_POLICY: 'fair' },
    });
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual(['waypost: NODE_CLUSTER_SCHED_POLICY: expected rr or none, got "fair" (from the environment)']);
  }, 20_000);
});
