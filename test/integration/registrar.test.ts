/**
 * The registrar against a real container engine: Podman serving the Docker API
 * on a unix socket (test/helpers/podman.ts), busybox httpd containers with host
 * networking, a real AdminServer. If Podman cannot run on this machine the suite
 * says so loudly and runs the same tests against a stand-in engine (a real
 * unix-socket HTTP server speaking the few Docker API endpoints) instead.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { DockerApi, type ContainerInspect } from '../../src/sidecar/docker-api.js';
import { Registrar } from '../../src/sidecar/registrar.js';
import { RegistryClient } from '../../src/client/index.js';
import type { InstanceRecord } from '../../src/types.js';
import { CLI, ROOT } from '../helpers/cli.js';
import { PodmanEngine } from '../helpers/podman.js';
import { freePort } from '../helpers/ports.js';
import { startAdmin, type AdminHarness } from './admin-harness.js';

interface Engine {
  readonly kind: 'podman' | 'stand-in';
  readonly dockerHost: string;
  runHttpd(port: number, labels: Record<string, string>): Promise<string>;
  kill(id: string): Promise<void>;
  stop(): Promise<void>;
}

let engine: Engine;

beforeAll(async () => {
  try {
    const podman = await PodmanEngine.start();
    engine = {
      kind: 'podman',
      dockerHost: podman.dockerHost,
      runHttpd: (port, labels) => podman.runHttpd(port, labels),
      kill: async (id) => void (await podman.podman(['kill', id])),
      stop: () => podman.stop(),
    };
  } catch (err) {
    console.error(
      `\n!!!!! REGISTRAR TESTS: PODMAN CANNOT RUN HERE (${(err as Error).message}).\n` +
        '!!!!! Running them against a STAND-IN Docker API server instead; this does NOT prove Docker/Podman compatibility.\n',
    );
    engine = await StandInEngine.start();
  }
}, 90_000);

afterAll(async () => {
  await engine?.stop();
}, 30_000);

async function until<T>(probe: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const instances = async (admin: AdminHarness, service: string): Promise<InstanceRecord[]> => [...(await admin.store.getService(service)).instances];

describe('waypost registrar', () => {
  beforeAll(() => console.log(`registrar tests run against: ${engine.kind} (${engine.dockerHost})`));
  it('registers a labelled container and removes it when the container is killed, leaving others alone', async () => {
    const admin = await startAdmin();
    const registrar = new Registrar({
      docker: new DockerApi(engine.dockerHost),
      target: new RegistryClient({ url: admin.base }),
      registrarId: 'reg-a',
      logger: silentLogger,
      ttl: 5,
      backoff: { initialMs: 50, maxMs: 500 },
    });
    try {
      await admin.store.register({ service: 'web', id: 'manual', host: '127.0.0.1', port: 9 });
      const reconciled = new Promise((resolve) => registrar.once('reconciled', resolve));
      registrar.start();
      await reconciled;
      const port = await freePort();
      const id = await engine.runHttpd(port, { 'waypost.service': 'web', 'waypost.port': String(port), 'waypost.tags': 'a, b', 'waypost.weight': '7' });
      const record = await until(async () => (await instances(admin, 'web')).find((i) => i.metadata.container === id), 10_000, 'container registered');
      expect(record).toMatchObject({ id: id.slice(0, 12), host: '127.0.0.1', port, tags: ['a', 'b'], weight: 7, ttl: 5, metadata: { registrar: 'reg-a', container: id } });
      // The address really serves (busybox httpd answers, 404 for a missing index is fine).
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBeLessThan(500);

      await engine.kill(id);
      await until(async () => !(await instances(admin, 'web')).some((i) => i.metadata.container === id), 10_000, 'container deregistered');
      expect((await instances(admin, 'web')).map((i) => i.id)).toEqual(['manual']);
    } finally {
      await registrar.stop();
      await admin.close();
    }
  }, 40_000);

  it('on start registers what runs and removes only its own ghosts (registrar process, SIGTERM exits 0)', async () => {
    const admin = await startAdmin();
    try {
      const port = await freePort();
      const running = await engine.runHttpd(port, { 'waypost.service': 'api', 'waypost.port': String(port) });
      const ghostContainer = 'f'.repeat(64);
      await admin.store.register({ service: 'api', id: 'ghost', host: '127.0.0.1', port: 1, metadata: { registrar: 'reg-b', container: ghostContainer } });
      await admin.store.register({ service: 'api', id: 'other-registrar', host: '127.0.0.1', port: 2, metadata: { registrar: 'someone-else', container: ghostContainer } });
      await admin.store.register({ service: 'api', id: 'self-registered', host: '127.0.0.1', port: 3 });

      const child = spawn(
        process.execPath,
        [CLI, 'registrar', '--docker-host', engine.dockerHost, '--registry', admin.base, '--id', 'reg-b', '--ttl', '5'],
        { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output += c));
      child.stderr.on('data', (c: Buffer) => (output += c));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      try {
        await until(
          async () => {
            const ids = (await instances(admin, 'api')).map((i) => i.id).sort();
            return JSON.stringify(ids) === JSON.stringify([running.slice(0, 12), 'other-registrar', 'self-registered'].sort());
          },
          15_000,
          'ghost removed and running container registered',
        );
        // Logs are written asynchronously: the line may trail the registry change by a moment.
        await until(async () => output.includes('"msg":"removed ghost registration"'), 5_000, 'the ghost removal log line');
      } finally {
        child.kill('SIGTERM');
      }
      expect(await exited).toBe(0);
    } finally {
      await admin.close();
    }
  }, 40_000);
});

/** Fallback only: a unix-socket HTTP server that speaks the Docker API endpoints the registrar uses. */
class StandInEngine implements Engine {
  readonly kind = 'stand-in' as const;
  readonly #dir = mkdtempSync(path.join(os.tmpdir(), 'waypost-engine-'));
  readonly #containers = new Map<string, { inspect: ContainerInspect; server: http.Server }>();
  readonly #streams = new Set<http.ServerResponse>();
  #server!: http.Server;

  get dockerHost(): string {
    return `unix://${path.join(this.#dir, 'api.sock')}`;
  }

  static async start(): Promise<StandInEngine> {
    const engine = new StandInEngine();
    engine.#server = http.createServer((req, res) => engine.#handle(req, res));
    await new Promise<void>((resolve) => engine.#server.listen(path.join(engine.#dir, 'api.sock'), resolve));
    return engine;
  }

  async runHttpd(port: number, labels: Record<string, string>): Promise<string> {
    const id = Array.from({ length: 64 }, () => '0123456789abcdef'[Math.floor(Math.random() * 16)]).join('');
    const server = http.createServer((_, res) => res.writeHead(404).end());
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const inspect: ContainerInspect = { Id: id, State: { Running: true }, Config: { Labels: labels }, HostConfig: { NetworkMode: 'host' } };
    this.#containers.set(id, { inspect, server });
    this.#emit(id, 'start', labels);
    return id;
  }

  async kill(id: string): Promise<void> {
    const container = this.#containers.get(id);
    if (!container) return;
    this.#containers.delete(id);
    container.server.close();
    this.#emit(id, 'die', container.inspect.Config?.Labels ?? {});
  }

  async stop(): Promise<void> {
    for (const id of [...this.#containers.keys()]) await this.kill(id);
    for (const res of this.#streams) res.end();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    rmSync(this.#dir, { recursive: true, force: true });
  }

  #emit(id: string, action: string, labels: Readonly<Record<string, string>>): void {
    const line = JSON.stringify({ Type: 'container', Action: action, status: action, id, Actor: { ID: id, Attributes: labels } });
    for (const res of this.#streams) res.write(`${line}\n`);
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://engine');
    if (url.pathname === '/events') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      this.#streams.add(res);
      req.on('close', () => this.#streams.delete(res));
      return;
    }
    if (url.pathname === '/containers/json') {
      const rows = [...this.#containers.values()].map(({ inspect }) => ({ Id: inspect.Id, Labels: inspect.Config?.Labels, State: 'running' }));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(rows));
      return;
    }
    const match = /^\/containers\/([^/]+)\/json$/.exec(url.pathname);
    const container = match ? this.#containers.get(match[1]!) : undefined;
    if (container) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(container.inspect));
    else res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"no such container"}');
  }
}
