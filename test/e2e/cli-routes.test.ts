/**
 * `waypost routes`, `routes set` and `routes delete` as real processes against a real proxy
 * process (embedded registry, token-protected admin API, one config-file route).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, ROOT, runCli, startProxyProcess, type RunningProxy } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';
import { tempDir } from '../helpers/temp-dir.js';

const TOKEN = 'cli-routes-token';
const lines = (text: string) => text.trim().split('\n').filter(Boolean);

describe('waypost routes', () => {
  let proxy: RunningProxy;
  const dir = tempDir('cli-routes');
  let flags: string[] = [];

  beforeAll(async () => {
    const config = path.join(dir, 'waypost.yaml');
    fs.writeFileSync(config, 'routes:\n  - { host: shop.test, path: /pay, service: billing }\n');
    proxy = await startProxyProcess(['--config', config, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--access-log', 'off'], {
      env: { WAYPOST_ADMIN_TOKEN: TOKEN },
    });
    flags = ['--registry', `http://127.0.0.1:${proxy.admin.port}`, '--token', TOKEN];
  });
  afterAll(async () => {
    await proxy?.stop('SIGKILL');
  });

  it('sets routes from flags and from a YAML file, lists them with their source, and deletes them', async () => {
    const fromFlags = await runCli(['routes', 'set', 'orders-api', '--service', 'orders', '--path', '/api/orders', '--strip-prefix', ...flags]);
    expect(fromFlags.stderr).toBe('');
    expect(fromFlags.code).toBe(0);
    expect(fromFlags.stdout).toMatch(/^route orders-api set \(revision \d+\)\n$/);
    const file = path.join(dir, 'route.yaml');
    fs.writeFileSync(file, 'host: "*.shop.test"\npath: /cart\nservice: cart\ntimeouts: { header: 5s }\n');
    expect((await runCli(['routes', 'set', 'cart', '--file', file, ...flags])).code).toBe(0);
    await fetch(`http://127.0.0.1:${proxy.admin.port}/v1/services/orders/instances`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ id: 'o-1', host: '127.0.0.1', port: 4100, routes: [{ host: 'orders.test' }] }),
    });

    const json = await runCli(['routes', '--json', ...flags]);
    expect(json.code).toBe(0);
    const listing = JSON.parse(json.stdout) as { routes: { id: string; source: string; declaredBy?: string; route: Record<string, unknown> }[] };
    expect(listing.routes.map((r) => `${r.id} ${r.source}${r.declaredBy ? ` ${r.declaredBy}` : ''}`)).toEqual([
      'route[0] config',
      'cart api',
      'orders-api api',
      'service:orders:orders.test/ declared orders',
    ]);
    expect(listing.routes[1]!.route).toEqual({ host: '*.shop.test', path: '/cart', service: 'cart', timeouts: { header: '5s' } });

    const table = await runCli(['routes', ...flags]);
    const [header, ...rows] = lines(table.stdout);
    expect(header).toMatch(/^ID\s+SOURCE\s+HOST\s+PATH\s+SERVICE\s+STRIP$/);
    expect(rows[2]).toMatch(/^orders-api\s+api\s+\*\s+\/api\/orders\s+orders\s+yes$/);
    expect(rows[3]).toMatch(/^service:orders:orders\.test\/\s+declared by orders\s+orders\.test\s+\/\s+orders\s+no$/);

    const deleted = await runCli(['routes', 'delete', 'orders-api', 'cart', 'nope', ...flags]);
    expect(deleted.code).toBe(1);
    expect(lines(deleted.stdout)).toEqual(['deleted route orders-api', 'deleted route cart']);
    expect(deleted.stderr).toBe('waypost: unknown route(s): nope\n');
    const after = JSON.parse((await runCli(['routes', '--json', ...flags])).stdout) as { routes: { id: string }[] };
    expect(after.routes.map((r) => r.id)).toEqual(['route[0]', 'service:orders:orders.test/']);
  });

  it('exits 2 naming the field for a bad route or id, and 1 without the token', async () => {
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, JSON.stringify({ service: 'orders', path: 'no-slash' }));
    const bad = await runCli(['routes', 'set', 'bad', '--file', file, ...flags]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^waypost: --file: path: /);
    const badId = await runCli(['routes', 'set', 'Bad/Id', '--service', 'orders', ...flags]);
    expect(badId.code).toBe(2);
    expect(badId.stderr).toMatch(/ID must be 1-64 of a-z 0-9/);
    const noService = await runCli(['routes', 'set', 'x', ...flags]);
    expect(noService.code).toBe(2);
    expect(noService.stderr).toMatch(/--service: is required without --file/);
    const noToken = await runCli(['routes', 'set', 'x', '--service', 'orders', '--registry', flags[1]!], { env: { WAYPOST_ADMIN_TOKEN: '' } });
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toMatch(/Authorization: Bearer/);
  });

  it('registers an app with the routes of the sidecar\'s --route flags, and refuses a bad one with exit 2', async () => {
    const bad = await runCli(['register', '--service', 'web', '--address', '127.0.0.1:1', '--route', '/a b', ...flags]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^waypost: --route: route\[0\]\.path must not contain spaces/);

    const app = http.createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const port = (app.address() as { port: number }).port;
    const sidecar = spawn(
      process.execPath,
      [CLI, 'register', '--service', 'web', '--id', 'web-1', '--address', `127.0.0.1:${port}`, '--check-interval', '200ms',
        '--route', '/web,stripPrefix', '--route', 'host=web.test', '--drain-delay', '0s', ...flags],
      { cwd: ROOT, stdio: 'ignore' },
    );
    try {
      const declared = await waitFor('the sidecar\'s routes', async () => {
        const listing = JSON.parse((await runCli(['routes', '--json', ...flags])).stdout) as { routes: { id: string; route: unknown }[] };
        const web = listing.routes.filter((r) => r.id.startsWith('service:web:'));
        return web.length === 2 ? web : undefined;
      }, { timeoutMs: 15_000 });
      expect(declared).toEqual([
        { id: 'service:web:/web', source: 'declared', declaredBy: 'web', route: { path: '/web', stripPrefix: true, service: 'web' } },
        { id: 'service:web:web.test/', source: 'declared', declaredBy: 'web', route: { host: 'web.test', path: '/', stripPrefix: false, service: 'web' } },
      ]);
    } finally {
      const exited = new Promise((resolve) => sidecar.once('close', resolve));
      sidecar.kill('SIGTERM');
      await exited;
      await new Promise((resolve) => app.close(resolve));
    }
  });
});
