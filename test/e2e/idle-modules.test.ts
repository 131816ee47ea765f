/**
 * Issue 21 item 4: a proxy loads only what its config needs. With the embedded registry and the
 * default (raw) engine, ioredis, http-proxy, undici and safe-regex2 stay unloaded, even after
 * traffic; they load when the config asks for them (the undici engine: only undici's Pool and
 * connector, never its index with fetch, WebSocket, mocks…). At idle (nothing proxied or scraped
 * yet) more stays unloaded: prom-client's default collectors and @opentelemetry/api (first
 * scrape), node:cluster and the worker modules (--workers > 1), the compat APIs, the TCP proxy,
 * the dashboard page, the other subcommands (sidecar, registrar, registry client). Each process
 * runs with test/helpers/record-modules.mjs, which writes every module it resolves to a file.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startProxyProcess, type RunningProxy } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const RECORDER = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'record-modules.mjs');
const dir = tempDir('idle-modules');
const running: RunningProxy[] = [];
afterAll(async () => {
  await Promise.all(running.map((p) => p.stop('SIGKILL')));
});

/**
 * Start a proxy with `args`, send it one proxied request and one /metrics read (unless `idle`),
 * stop it, and return the modules it loaded.
 */
async function loadedModules(name: string, args: string[], options: { idle?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<string[]> {
  const file = path.join(dir, `${name}.txt`);
  const proxy = await startProxyProcess(['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--access-log', 'off', ...args], {
    env: { ...options.env, NODE_OPTIONS: `--import=${RECORDER}`, RECORD_MODULES_FILE: file },
  });
  running.push(proxy);
  if (!options.idle) {
    const listener = proxy.http[0]!;
    expect((await fetch(`http://${listener.host}:${listener.port}/`, { headers: { host: 'nothing.localhost' } })).status).toBe(404);
    expect((await fetch(`http://${proxy.admin.host}:${proxy.admin.port}/metrics`)).status).toBe(200);
  }
  expect((await proxy.stop()).code).toBe(0);
  return readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

/** Waypost's own modules under dist/`folder` (a folder ends with "/"). */
const fromDist = (modules: string[], folder: string) => modules.filter((m) => m.includes(`/dist/${folder}`));

const fromPackage = (modules: string[], name: string) => modules.filter((m) => m.includes(`/node_modules/${name}/`));

describe('modules a proxy loads', () => {
  it('with the embedded registry and the default engine: no ioredis, http-proxy, undici or safe-regex2', async () => {
    const modules = await loadedModules('default', []);
    // The recorder sees ESM (zod) as well as CommonJS modules.
    expect(fromPackage(modules, 'zod').length).toBeGreaterThan(0);
    expect(fromPackage(modules, 'undici')).toEqual([]);
    expect(fromPackage(modules, 'ioredis')).toEqual([]);
    expect(fromPackage(modules, 'http-proxy')).toEqual([]);
    expect(fromPackage(modules, 'safe-regex2')).toEqual([]);
    expect(fromPackage(modules, 'yaml')).toEqual([]);
    expect(modules.filter((m) => m.endsWith('/node_modules/undici/index.js'))).toEqual([]);
    // The first scrape started prom-client's default collectors (src/prom-parts.ts).
    expect(modules.filter((m) => m.endsWith('/prom-client/lib/defaultMetrics.js')).length).toBeGreaterThan(0);
  });

  it('at idle: none of what loads on first use or only with other settings', async () => {
    const modules = await loadedModules('idle', [], { idle: true });
    expect(fromPackage(modules, 'zod').length).toBeGreaterThan(0);
    // Default collectors and the OTel API (prom-client's process_cpu requires it) wait for the first scrape.
    expect(modules.filter((m) => m.includes('/prom-client/lib/defaultMetrics.js') || m.endsWith('/prom-client/index.js'))).toEqual([]);
    expect(fromPackage(modules, '@opentelemetry')).toEqual([]);
    expect(modules.filter((m) => m === 'node:cluster' || m === 'cluster')).toEqual([]);
    expect(fromDist(modules, 'workers/').filter((m) => !m.endsWith('/workers/is-worker.js'))).toEqual([]);
    for (const folder of ['compat/', 'sidecar/', 'client/', 'proxy/tcp.js', 'admin/dashboard-page.js', 'commands/register.js', 'commands/registrar.js', 'commands/routes.js']) {
      expect(fromDist(modules, folder)).toEqual([]);
    }
  });

  it('loads the compat APIs when one is on', async () => {
    const modules = await loadedModules('compat', [], { idle: true, env: { WAYPOST_COMPAT_EUREKA: 'true' } });
    expect(fromDist(modules, 'compat/eureka/').length).toBeGreaterThan(0);
  });

  it('with the undici engine configured, loads undici only for its first upstream connection', async () => {
    // The one proxied request here is answered 404 (no route): no pool, so no undici yet.
    // test/unit/undici-parts.test.ts checks the parts the engine then loads are undici's own.
    const modules = await loadedModules('undici', ['--engine', 'undici']);
    expect(fromPackage(modules, 'undici')).toEqual([]);
    expect(fromPackage(modules, 'http-proxy')).toEqual([]);
  });

  it('loads http-proxy when the http-proxy engine is configured', async () => {
    const modules = await loadedModules('http-proxy', ['--engine', 'http-proxy']);
    expect(fromPackage(modules, 'http-proxy').length).toBeGreaterThan(0);
    expect(fromPackage(modules, 'ioredis')).toEqual([]);
  });
});
