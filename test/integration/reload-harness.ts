/**
 * A whole Waypost (src/app.ts wiring) started from a config file on disk, with the same
 * reload source the CLI uses (loadConfig on that file), so a test rewrites the file and
 * reloads through the real admin API. JSON is valid YAML: the file is written as JSON.
 */
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { WaypostApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import { afterEach } from 'vitest';
import { startBackend, type Backend } from '../helpers/backends.js';
import { testTempDir } from '../helpers/temp-dir.js';

export const TOKEN = 'reload-secret';

export interface ReloadApp {
  app: WaypostApp;
  adminUrl: string;
  /** Writes the config file: `doc` over the harness's fixed fields (admin on port 0 with TOKEN, no access log). */
  write(doc: Record<string, unknown>): void;
  /** `POST /v1/admin/reload` with the token. */
  reload(token?: string): Promise<{ status: number; body: Record<string, unknown> }>;
  register(service: string, port: number, id?: string): Promise<void>;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export async function startReloadApp(dir: string, doc: Record<string, unknown>): Promise<ReloadApp> {
  const file = path.join(dir, 'waypost.yaml');
  const write = (next: Record<string, unknown>): void => {
    const full = { admin: { listen: '127.0.0.1:0', token: TOKEN }, accessLog: 'off', ...next };
    writeFileSync(file, JSON.stringify(full, null, 2));
  };
  write(doc);
  const source = () => loadConfig({ file });
  const app = new WaypostApp(source(), { logger: silentLogger, metrics: new Metrics({ processMetrics: false }), configSource: source });
  try {
    await app.start();
  } catch (err) {
    await app.stop();
    throw err;
  }
  const adminUrl = `http://127.0.0.1:${app.addresses.admin.port}`;
  return {
    app,
    adminUrl,
    write,
    async reload(token = TOKEN) {
      const res = await fetch(`${adminUrl}/v1/admin/reload`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
    async register(service, port, id = `${service}-1`) {
      await app.store.register({ service, id, host: '127.0.0.1', port });
      for (let i = 0; i < 400 && !app.mirror.service(service)?.instances.some((r) => r.id === id); i++) {
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    metrics: () => app.metrics.text(),
    stop: () => app.stop(),
  };
}

/** One GET on a fresh connection: status, body and the backend that answered. */
export function get(port: number, host: string, urlPath: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, headers: { host, ...headers }, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

export interface ReloadFixtures {
  /** Runs `step` after the current test (last added, first run). */
  defer(step: () => Promise<void> | void): void;
  /** A proxy from `doc` in a temp dir, stopped after the test. */
  proxy(doc: Record<string, unknown>): Promise<ReloadApp>;
  /** An echo backend (test/helpers/backends.ts), closed after the test. */
  backend(name: string): Promise<Backend>;
}

/** Call at a test file's top level: what each test starts is stopped after it. */
export function reloadFixtures(name: string): ReloadFixtures {
  const steps: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const step of steps.splice(0).reverse()) await step();
  });
  const defer = (step: () => Promise<void> | void): void => void steps.push(step);
  return {
    defer,
    async proxy(doc) {
      const app = await startReloadApp(testTempDir(name), doc);
      defer(() => app.stop());
      return app;
    },
    async backend(backendName) {
      const b = await startBackend({ name: backendName });
      defer(() => b.close());
      return b;
    },
  };
}
