/**
 * `waypost register` as a real process (dist/cli.js) next to a real app process,
 * against a real AdminServer: lifecycle, health reporting, drain on SIGTERM,
 * registry outage, exec mode, usage errors.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/client/index.js';
import type { InstanceRecord } from '../../src/types.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { createStore } from '../../src/registry/create-store.js';
import { CLI, PROCESS_START_BUDGET_MS, ROOT, runCli } from '../helpers/cli.js';
import { RedisServer } from '../helpers/redis-server.js';
import { freePort } from '../helpers/ports.js';
import { startGrpcBackend } from '../helpers/grpc.js';
import { waitFor } from '../helpers/wait.js';
import { startAdmin, type AdminHarness } from './admin-harness.js';

const APP = path.join(ROOT, 'test', 'fixtures', 'flippable-app.mjs');
/** Waits that include starting the sidecar (and its app) get the start-up budget; each test's timeout adds its own steps. */
const STARTED = { timeoutMs: PROCESS_START_BUDGET_MS };
const children: ChildProcess[] = [];
const admins: AdminHarness[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  for (const admin of admins.splice(0)) await admin.close();
});

async function startApp(env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [APP], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString()).port as number));
    child.once('exit', (code) => reject(new Error(`app exited with ${code}`)));
  });
  return { child, port };
}

function startSidecar(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, 'register', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function flip(port: number, state: 'healthy' | 'unhealthy'): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/${state}`, { method: 'POST' });
  await res.text();
}

const instancesOf = async (admin: AdminHarness, service: string): Promise<InstanceRecord[]> => [
  ...(await admin.store.getService(service)).instances,
];

const statusOf = (admin: AdminHarness, service: string, status: string) => async () =>
  (await instancesOf(admin, service)).find((i) => i.status === status);

describe('waypost register (sidecar process)', () => {
  it('registers a gRPC app as h2c and follows its grpc.health.v1 status (--protocol h2c --check-grpc)', async () => {
    const admin = await startAdmin();
    admins.push(admin);
    const backend = await startGrpcBackend('grpc-app');
    try {
      const sidecar = startSidecar([
        '--service', 'greeter', '--address', `127.0.0.1:${backend.port}`, '--registry', admin.base, '--protocol', 'h2c',
        '--check-grpc', 'waypost.test.Echo', '--check-interval', '100ms', '--drain-delay', '100ms', '--id', 'g-1',
      ]);
      const up = await waitFor('registered UP', statusOf(admin, 'greeter', 'UP'), { timeoutMs: 10_000 });
      expect(up).toMatchObject({ id: 'g-1', protocol: 'h2c' });
      backend.health = 'NOT_SERVING';
      await waitFor('OUT_OF_SERVICE once NOT_SERVING', statusOf(admin, 'greeter', 'OUT_OF_SERVICE'), { timeoutMs: 5000 });
      backend.health = 'SERVING';
      await waitFor('UP once SERVING again', statusOf(admin, 'greeter', 'UP'), { timeoutMs: 5000 });
      expect(backend.calls.health).toBeGreaterThan(3);
      sidecar.child.kill('SIGTERM');
      expect(await sidecar.exited).toBe(0);
    } finally {
      await backend.close();
    }
  });

  it('refuses a protocol it does not know, naming --protocol, with exit code 2', async () => {
    const result = await runCli(['register', '--service', 'app', '--address', '127.0.0.1:9', '--protocol', 'h3']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n').at(-1)).toBe('waypost: --protocol: protocol must be one of http1, h2c, h2; got "h3"');
  });

  it('registers the app, keeps it through 3 TTLs, follows its health, drains and deregisters on SIGTERM', async () => {
    const admin = await startAdmin();
    admins.push(admin);
    const app = await startApp();
    const sidecar = startSidecar([
      '--service', 'app', '--address', `127.0.0.1:${app.port}`, '--registry', admin.base, '--ttl', '1',
      '--check-path', '/healthz', '--check-interval', '100ms', '--drain-delay', '400ms', '--id', 'app-1', '--tag', 'v2',
    ]);
    const up = await waitFor('registered UP', statusOf(admin, 'app', 'UP'), STARTED);
    expect(up).toMatchObject({ id: 'app-1', host: '127.0.0.1', port: app.port, ttl: 1, tags: ['v2'] });

    await new Promise((r) => setTimeout(r, 3200));
    const kept = await instancesOf(admin, 'app');
    expect(kept.map((i) => [i.id, i.status, i.registeredAt])).toEqual([['app-1', 'UP', up.registeredAt]]);

    await flip(app.port, 'unhealthy');
    await waitFor('OUT_OF_SERVICE after failed checks', statusOf(admin, 'app', 'OUT_OF_SERVICE'), { timeoutMs: 3000 });
    await flip(app.port, 'healthy');
    await waitFor('UP after recovered checks', statusOf(admin, 'app', 'UP'), { timeoutMs: 3000 });

    // Watch the drain through the blocking query: DRAINING first, then gone.
    const client = new RegistryClient({ url: admin.base });
    const seen: string[] = [];
    const watch = client.watch('app', (state) => seen.push(state.instances.map((i) => i.status).join(',') || 'none'));
    await waitFor('watch started', async () => seen.length > 0, { timeoutMs: 2000 });
    sidecar.child.kill('SIGTERM');
    expect(await sidecar.exited).toBe(0);
    watch.close();
    expect(await instancesOf(admin, 'app')).toEqual([]);
    expect(seen).toEqual(['UP', 'DRAINING', 'none']);
    expect(sidecar.output()).toContain('"msg":"draining"');
  }, PROCESS_START_BUDGET_MS + 15_000);

  it('survives the registry being down for 5 s and registers again after', async () => {
    const port = await freePort();
    let admin = await startAdmin({ admin: { listen: `127.0.0.1:${port}` } });
    const app = await startApp();
    const sidecar = startSidecar([
      '--service', 'app', '--address', `127.0.0.1:${app.port}`, '--registry', admin.base, '--ttl', '1',
      '--check-interval', '200ms', '--drain-delay', '0s', '--id', 'app-1',
    ]);
    await waitFor('registered', statusOf(admin, 'app', 'UP'), STARTED);
    await admin.close();
    await new Promise((r) => setTimeout(r, 5000));
    expect(sidecar.child.exitCode).toBe(null);
    // A fresh registry on the same port knows nothing: the heartbeat gets 404 and the sidecar registers again.
    admin = await startAdmin({ admin: { listen: `127.0.0.1:${port}` } });
    admins.push(admin);
    await waitFor('re-registered after the outage', statusOf(admin, 'app', 'UP'), { timeoutMs: 8000 });
    expect(sidecar.output()).toContain('"msg":"registry call failed; retrying"');
    sidecar.child.kill('SIGTERM');
    expect(await sidecar.exited).toBe(0);
    expect(await instancesOf(admin, 'app')).toEqual([]);
  }, PROCESS_START_BUDGET_MS + 17_000);

  it('in exec mode starts the app, registers it once its check passes, and exits with its code', async () => {
    const admin = await startAdmin();
    admins.push(admin);
    const appPort = await freePort();
    const sidecar = startSidecar(
      [
        '--service', 'app', '--address', `127.0.0.1:${appPort}`, '--registry', admin.base, '--check-path', '/healthz',
        '--check-interval', '100ms', '--drain-delay', '0s', '--exec', '--', process.execPath, APP,
      ],
      { PORT: String(appPort), EXIT_CODE_ON_TERM: '3' },
    );
    // Two start-ups in a row: the sidecar, then the app it runs.
    await waitFor('exec app registered', statusOf(admin, 'app', 'UP'), { timeoutMs: 2 * PROCESS_START_BUDGET_MS });
    sidecar.child.kill('SIGTERM');
    expect(await sidecar.exited).toBe(3);
    expect(await instancesOf(admin, 'app')).toEqual([]);
  }, 2 * PROCESS_START_BUDGET_MS + 5_000);

  it('with --redis writes straight to the Redis registry and deregisters on SIGTERM', async () => {
    const redis = await RedisServer.start();
    const store = createStore(configSchema.parse({ redis: { url: redis.url } }), { logger: silentLogger });
    try {
      await store.start();
      const app = await startApp();
      const sidecar = startSidecar([
        '--service', 'app', '--address', `127.0.0.1:${app.port}`, '--redis', redis.url, '--ttl', '2', '--check-interval', '200ms', '--drain-delay', '0s',
      ]);
      const up = await waitFor('registered in Redis', async () => (await store.getService('app')).instances[0], STARTED);
      expect(up).toMatchObject({ host: '127.0.0.1', port: app.port, status: 'UP', ttl: 2 });
      sidecar.child.kill('SIGTERM');
      expect(await sidecar.exited).toBe(0);
      expect((await store.getService('app')).instances).toEqual([]);
    } finally {
      await store.close();
      await redis.stop();
    }
  }, PROCESS_START_BUDGET_MS + 10_000);

  it('drains and deregisters when the process that started it dies; with --detached it stays', async () => {
    const admin = await startAdmin();
    admins.push(admin);
    const app = await startApp();
    const args = (id: string, extra: string[] = []) =>
      ['register', '--service', 'app', '--address', `127.0.0.1:${app.port}`, '--registry', admin.base, '--id', id, '--drain-delay', '300ms', ...extra]
        .map((a) => `'${a}'`)
        .join(' ');
    // A shell that starts the sidecar and dies without passing anything on (as npx's does on SIGTERM).
    const viaShell = (id: string, extra?: string[]) => {
      const shell = spawn('sh', ['-c', `'${process.execPath}' '${CLI}' ${args(id, extra)} & echo $!; wait`], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      children.push(shell);
      return {
        shell,
        pid: new Promise<number>((resolve) => shell.stdout!.once('data', (c: Buffer) => resolve(Number(String(c).split('\n')[0])))),
      };
    };
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const watched = viaShell('watched');
    const detached = viaShell('detached', ['--detached']);
    const watchedPid = await watched.pid;
    const detachedPid = await detached.pid;
    await waitFor('both registered', async () => (await instancesOf(admin, 'app')).length === 2 || undefined, STARTED);
    watched.shell.kill('SIGKILL');
    detached.shell.kill('SIGKILL');
    try {
      await waitFor('orphaned sidecar deregistered', async () => !(await instancesOf(admin, 'app')).some((i) => i.id === 'watched'), { timeoutMs: 10_000 });
      await waitFor('orphaned sidecar exited', async () => !alive(watchedPid) || undefined, { timeoutMs: 5000 });
      await new Promise((r) => setTimeout(r, 1500));
      expect((await instancesOf(admin, 'app')).map((i) => [i.id, i.status])).toEqual([['detached', 'UP']]);
      expect(alive(detachedPid)).toBe(true);
    } finally {
      for (const pid of [watchedPid, detachedPid]) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  }, PROCESS_START_BUDGET_MS + 20_000);

  it('rejects bad flags with exit code 2 and one line naming the flag', async () => {
    const cases: Array<[string[], string]> = [
      [['--address', '127.0.0.1:3000'], 'waypost: --service: is required (the service name)\n'],
      [['--service', 'app', '--address', '0.0.0.0:3000'], `waypost: --address: "0.0.0.0:3000" is not an address a proxy can reach; give the app's IP or DNS name\n`],
      [['--service', 'app', '--address', '127.0.0.1:3000', '--ttl', '0'], 'waypost: --ttl: must be an integer from 1 to 3600, got "0"\n'],
      [['--service', 'app', '--address', '127.0.0.1:3000', '--registry', 'http://a', '--redis', 'redis://b'], 'waypost: --redis: give either --registry URL or --redis URL, not both\n'],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(['register', ...args])));
    expect(results.map((r, i) => ({ args: cases[i]![0], code: r.code, stderr: r.stderr }))).toEqual(
      cases.map(([args, stderr]) => ({ args, code: 2, stderr })),
    );
  }, PROCESS_START_BUDGET_MS + 5_000);
});
