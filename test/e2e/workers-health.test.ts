/**
 * Active health checks with --workers: the primary probes each instance once per interval (not
 * once per worker) and every worker routes by its verdicts.
 */
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startProxyProcess, type RunningProxy } from '../helpers/cli.js';
import { statusOf } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { testTempDir } from '../helpers/temp-dir.js';

interface ProbedBackend {
  server: http.Server;
  port: number;
  probes: number;
  served: number;
}

const backends: ProbedBackend[] = [];
let proxy: RunningProxy | undefined;
afterAll(async () => {
  await proxy?.stop('SIGKILL');
  for (const b of backends) b.server.close();
});

async function backend(healthy: boolean): Promise<ProbedBackend> {
  const b = { probes: 0, served: 0 } as ProbedBackend;
  b.server = http.createServer((req, res) => {
    if (req.url === '/healthz') {
      b.probes++;
      res.writeHead(healthy ? 200 : 503).end();
      return;
    }
    b.served++;
    res.end('ok');
  });
  await new Promise<void>((resolve) => b.server.listen(0, '127.0.0.1', resolve));
  b.port = (b.server.address() as AddressInfo).port;
  backends.push(b);
  return b;
}


describe('active health checks with --workers 2', () => {
  it('probes once per interval from the primary, and both workers route around the failing instance', async () => {
    const good = await backend(true);
    const bad = await backend(false);
    const dir = testTempDir('workers-health');
    const config = path.join(dir, 'waypost.yaml');
    const interval = 200;
    writeFileSync(
      config,
      [
        'domains: [localhost]',
        'accessLog: "off"',
        'health:',
        '  active:',
        `    orders: { type: http, path: /healthz, interval: ${interval}ms, timeout: 150ms, passes: 1, fails: 1 }`,
      ].join('\n'),
    );
    proxy = await startProxyProcess(['--config', config, '--workers', '2', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { timeoutMs: 25_000 });
    for (const [id, b] of [['good', good], ['bad', bad]] as const) {
      const response = await fetch(`http://127.0.0.1:${proxy.admin.port}/v1/services/orders/instances`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id, host: '127.0.0.1', port: b.port, ttl: 600 }),
      });
      expect(response.status).toBe(201);
    }
    const port = proxy.http[0]!.port;
    // Until the bad instance has failed its first probe, it may still be picked.
    await waitFor('two probes of the bad instance', () => bad.probes >= 2, { timeoutMs: 10_000, intervalMs: 50 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const badBefore = bad.served;
    // Fresh connections alternate between the workers (round-robin scheduling).
    for (let i = 0; i < 20; i++) expect(await statusOf(port, 'orders.localhost')).toBe(200);
    expect(bad.served).toBe(badBefore);
    expect(good.served).toBeGreaterThanOrEqual(20);

    // One prober: over 2 s at a 200 ms interval (with jitter) that is about 10 probes, not 30.
    const before = good.probes;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const probes = good.probes - before;
    expect(probes).toBeGreaterThanOrEqual(5);
    expect(probes).toBeLessThanOrEqual(15);
  }, 40_000);
});
