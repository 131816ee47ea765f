/**
 * The registrar against a real container engine: Podman serving the Docker API on
 * a unix socket (test/helpers/podman.ts), busybox httpd containers with host
 * networking, a real AdminServer. Podman, runc and busybox-static are required
 * (scripts/setup.mjs installs them): without them this suite fails, saying why.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { DockerApi } from '../../src/sidecar/docker-api.js';
import { Registrar } from '../../src/sidecar/registrar.js';
import { RegistryClient } from '../../src/client/index.js';
import type { InstanceRecord } from '../../src/types.js';
import { CLI, ROOT } from '../helpers/cli.js';
import { PodmanEngine } from '../helpers/podman.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { startAdmin, type AdminHarness } from './admin-harness.js';

let engine: PodmanEngine;

beforeAll(async () => {
  engine = await PodmanEngine.start();
}, 90_000);

afterAll(async () => {
  await engine?.stop();
}, 30_000);

const instances = async (admin: AdminHarness, service: string): Promise<InstanceRecord[]> => [...(await admin.store.getService(service)).instances];

describe('waypost registrar', () => {
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
      const record = await waitFor('container registered', async () => (await instances(admin, 'web')).find((i) => i.metadata.container === id), { timeoutMs: 10_000, intervalMs: 50 });
      expect(record).toMatchObject({ id: id.slice(0, 12), host: '127.0.0.1', port, tags: ['a', 'b'], weight: 7, ttl: 5, metadata: { registrar: 'reg-a', container: id } });
      // The address really serves (busybox httpd answers, 404 for a missing index is fine).
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBeLessThan(500);

      await engine.podman(['kill', id]);
      await waitFor('container deregistered', async () => !(await instances(admin, 'web')).some((i) => i.metadata.container === id), { timeoutMs: 10_000, intervalMs: 50 });
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
        await waitFor(
          'ghost removed and running container registered',
          async () => {
            const ids = (await instances(admin, 'api')).map((i) => i.id).sort();
            return JSON.stringify(ids) === JSON.stringify([running.slice(0, 12), 'other-registrar', 'self-registered'].sort());
          },
          { timeoutMs: 15_000, intervalMs: 50 },
        );
        // Logs are written asynchronously: the line may trail the registry change by a moment.
        await waitFor('the ghost removal log line', async () => output.includes('"msg":"removed ghost registration"'), { timeoutMs: 5_000, intervalMs: 50 });
      } finally {
        child.kill('SIGTERM');
      }
      expect(await exited).toBe(0);
    } finally {
      await admin.close();
    }
  }, 40_000);
});
