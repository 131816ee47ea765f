/**
 * Passive outlier detection with --workers: an ejection a worker decides reaches the primary,
 * so the single admin API and /metrics show it, whichever worker saw the failures.
 */
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startProxyProcess, type RunningProxy } from '../helpers/cli.js';
import { statusOf } from '../helpers/http.js';
import { readUntil } from '../helpers/wait.js';
import { testTempDir } from '../helpers/temp-dir.js';

const servers: http.Server[] = [];
let proxy: RunningProxy | undefined;
afterAll(async () => {
  await proxy?.stop('SIGKILL');
  for (const server of servers) server.close();
});

async function backend(status: number): Promise<number> {
  const server = http.createServer((_req, res) => res.writeHead(status).end());
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}


describe('outlier ejection with --workers 2', () => {
  it("shows a worker's ejection in the primary's admin API and waypost_endpoints", async () => {
    const good = await backend(200);
    const bad = await backend(500);
    const dir = testTempDir('workers-eject');
    const config = path.join(dir, 'waypost.yaml');
    writeFileSync(config, ['domains: [localhost]', 'accessLog: "off"', 'health:', '  passive: { consecutiveFailures: 2, baseEjection: 60s }'].join('\n'));
    proxy = await startProxyProcess(['--config', config, '--workers', '2', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { timeoutMs: 25_000 });
    const admin = `http://127.0.0.1:${proxy.admin.port}`;
    for (const [id, port] of [['good', good], ['bad', bad]] as const) {
      const response = await fetch(`${admin}/v1/services/orders/instances`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id, host: '127.0.0.1', port, ttl: 600 }),
      });
      expect(response.status).toBe(201);
    }
    const view = async () =>
      ((await (await fetch(`${admin}/v1/services/orders`)).json()) as { instances: { id: string; health: string }[] }).instances;
    const proxyPort = proxy.http[0]!.port;
    const badHealth = async (): Promise<string | undefined> => {
      await statusOf(proxyPort, 'orders.localhost');
      return (await view()).find((i) => i.id === 'bad')?.health;
    };
    expect(await readUntil('the bad instance ejected', badHealth, (health) => health === 'ejected', { timeoutMs: 10_000, intervalMs: 0 })).toBe('ejected');
    expect((await view()).find((i) => i.id === 'good')?.health).toBe('healthy');
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    expect(metrics).toMatch(/^waypost_endpoints\{service="orders",state="ejected"\} 1$/m);
    // The dashboard's JSON: the ejection counted, and why, in the instance's health history.
    const stats = (await (await fetch(`${admin}/v1/stats`)).json()) as {
      services: { name: string; ejections: number; instances: { id: string; history: { health: string; reason: string }[] }[] }[];
    };
    const orders = stats.services.find((s) => s.name === 'orders')!;
    // Both workers may have seen the failures and decided an ejection each before hearing of the other's.
    expect(orders.ejections).toBeGreaterThanOrEqual(1);
    expect(orders.instances.find((i) => i.id === 'bad')!.history[0]).toEqual(
      expect.objectContaining({ health: 'ejected', reason: expect.stringMatching(/^2 consecutive failures, last: \w+ \(worker \d+\)$/) }),
    );
  }, 40_000);
});
