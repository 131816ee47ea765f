/**
 * --workers 2: the requests are served by the workers, the dashboard JSON is the primary's.
 * The primary merges what each worker relays (traffic buckets, in-flight counts), so the
 * traffic a test sends through both workers shows there in full.
 */
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type Backend } from '../helpers/backends.js';
import { startProxyProcess, type RunningProxy } from '../helpers/cli.js';
import { statusOf } from '../helpers/http.js';
import { tempDir } from '../helpers/temp-dir.js';
import { readUntil, waitFor } from '../helpers/wait.js';

const dir = tempDir('workers-dashboard');
const accessLogFile = path.join(dir, 'access.log');
let backend: Backend;
let proxy: RunningProxy;

interface SeriesView {
  requests: number[];
  errors: number[];
  p50: (number | null)[];
  p99: (number | null)[];
}
interface Stats {
  traffic: { total: SeriesView };
  services: { name: string; requests: number; errors: number; traffic: SeriesView | null; instances: { id: string; inflight: number | null }[] }[];
}

beforeAll(async () => {
  // Requests 3 and 8 reaching the backend fail with 500.
  backend = await startBackend({ name: 'w', failOn: [3, 8] });
  const config = path.join(dir, 'waypost.yaml');
  writeFileSync(config, `domains: [localhost]\naccessLog: ${accessLogFile}\n`);
  proxy = await startProxyProcess(['--config', config, '--workers', '2', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { timeoutMs: 25_000 });
}, 30_000);

afterAll(async () => {
  await proxy?.stop('SIGKILL');
  await backend?.close();
});

async function stats(): Promise<Stats> {
  return (await (await fetch(`http://127.0.0.1:${proxy.admin.port}/v1/stats`)).json()) as Stats;
}

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);

function workerPids(): Set<number> {
  const text = readFileSync(accessLogFile, 'utf8').trim();
  return new Set(text ? text.split('\n').map((line) => (JSON.parse(line) as { pid: number }).pid) : []);
}

describe('dashboard JSON with --workers 2', () => {
  it('the primary shows every request the workers served, with errors, latency and in-flight counts', async () => {
    const register = await fetch(`http://127.0.0.1:${proxy.admin.port}/v1/services/orders/instances`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'o1', host: '127.0.0.1', port: backend.port, ttl: 600 }),
    });
    expect(register.status).toBe(201);
    const port = proxy.http[0]!.port;
    const statuses: number[] = [];
    const send = async (headers: http.OutgoingHttpHeaders = {}): Promise<number> => {
      const status = await statusOf(port, 'orders.localhost', headers);
      statuses.push(status);
      return status;
    };
    await waitFor('the route to orders', async () => (await send()) === 200, { intervalMs: 50 });
    for (let i = 0; i < 30; i++) await send(i % 10 === 0 ? { 'x-test': 'slow=250' } : {});
    const sent = statuses.filter((s) => s !== 404).length;
    const failed = statuses.filter((s) => s === 500).length;
    expect(failed).toBe(2);
    await readUntil('access-log lines of both workers', workerPids, (pids) => pids.size >= 2, { intervalMs: 50, timeoutMs: 10_000 });

    const merged = await readUntil(
      'the primary counting every request sent to orders',
      stats,
      (s) => sum(s.services.find((x) => x.name === 'orders')?.traffic?.requests ?? []) === sent,
      { intervalMs: 200, timeoutMs: 15_000 },
    );
    // The counters since start are the workers' too.
    expect(merged.services.find((s) => s.name === 'orders')).toMatchObject({ requests: sent, errors: failed });
    const orders = merged.services.find((s) => s.name === 'orders')!.traffic!;
    expect(sum(orders.errors)).toBe(failed);
    // The 250 ms requests are each bucket's slowest: its p99 (histogram bound: within 2^¼).
    expect(Math.max(...orders.p99.map((p) => p ?? 0))).toBeGreaterThan(250 * 0.84);
    expect(Math.min(...orders.p50.filter((p): p is number => p !== null))).toBeLessThan(200);
    // The whole proxy also counts the 404s of the wait for the route.
    expect(sum(merged.traffic.total.requests)).toBe(statuses.length);
    expect(sum(merged.traffic.total.errors)).toBe(failed);

    // A request held by the backend is in flight in some worker: the primary shows it, then its end.
    const held = http.get({ host: '127.0.0.1', port, path: '/', headers: { host: 'orders.localhost', 'x-test': 'hang' }, agent: false });
    held.on('error', () => {});
    const inflight = async (): Promise<number | null | undefined> =>
      (await stats()).services.find((s) => s.name === 'orders')?.instances.find((i) => i.id === 'o1')?.inflight;
    await readUntil('the held request in flight on the primary', inflight, (n) => n === 1, { intervalMs: 200, timeoutMs: 10_000 });
    held.destroy();
    await readUntil('the in-flight count back to 0', inflight, (n) => n === 0, { intervalMs: 200, timeoutMs: 10_000 });
  }, 60_000);
});
