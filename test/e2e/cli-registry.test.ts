/**
 * `waypost instances` and `waypost deregister` as real processes, against a real
 * proxy's admin API (embedded registry) and against a real Redis; and the
 * `--registry`/`--redis` choice of every command that reads the registry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { createStore } from '../../src/registry/create-store.js';
import type { RegistryStore } from '../../src/registry/store.js';
import { runCli, startProxyProcess, type RunningProxy } from '../helpers/cli.js';
import { deadPort } from '../helpers/ports.js';
import { RedisServer } from '../helpers/redis-server.js';

const lines = (text: string) => text.trim().split('\n').filter(Boolean);

interface InstancesJson {
  name: string;
  instances: { id: string; host: string; port: number; status: string }[];
}

/** The same checks through either way of reaching the registry. */
function instancesAndDeregister(name: string, setup: () => { flags: string[]; register: (id: string, port: number) => Promise<void> }): void {
  describe(name, () => {
    it('lists one service as JSON and as a table', async () => {
      const { flags, register } = setup();
      await register('list-1', 4001);
      await register('list-2', 4002);
      const json = await runCli(['instances', 'listed', '--json', ...flags]);
      expect(json.stderr).toBe('');
      expect(json.code).toBe(0);
      const parsed = JSON.parse(json.stdout) as InstancesJson;
      expect(parsed.name).toBe('listed');
      expect(parsed.instances.map((i) => [i.id, i.host, i.port, i.status]).sort()).toEqual([
        ['list-1', '127.0.0.1', 4001, 'UP'],
        ['list-2', '127.0.0.1', 4002, 'UP'],
      ]);

      const table = await runCli(['instances', 'listed', ...flags]);
      expect(table.code).toBe(0);
      const [header, ...rows] = lines(table.stdout);
      expect(header).toMatch(/^SERVICE\s+ID\s+ADDRESS\s+WEIGHT\s+ZONE\s+STATUS\s+HEALTH\s+LEASE EXPIRES$/);
      expect(rows.map((row) => row.split(/\s+/).slice(0, 3)).sort()).toEqual([
        ['listed', 'list-1', '127.0.0.1:4001'],
        ['listed', 'list-2', '127.0.0.1:4002'],
      ]);
    });

    it('prints an empty list for an unknown service', async () => {
      const { flags } = setup();
      const json = await runCli(['instances', 'nobody-here', '--json', ...flags]);
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout)).toEqual({ name: 'nobody-here', instances: [] });
    });

    it('deregisters an instance, and exits 1 naming an unknown one', async () => {
      const { flags, register } = setup();
      await register('gone-1', 4011);
      await register('stays-1', 4012);
      const removed = await runCli(['deregister', 'leaving', 'gone-1', ...flags]);
      expect(removed.stderr).toBe('');
      expect(removed.code).toBe(0);
      expect(lines(removed.stdout)).toEqual(['deregistered leaving/gone-1']);
      const left = JSON.parse((await runCli(['instances', 'leaving', '--json', ...flags])).stdout) as InstancesJson;
      expect(left.instances.map((i) => i.id)).toEqual(['stays-1']);

      const again = await runCli(['deregister', 'leaving', 'gone-1', ...flags]);
      expect(again.code).toBe(1);
      expect(lines(again.stderr)).toEqual(['waypost: unknown instance(s) of leaving: gone-1']);
    });

    it('exits 2 naming the argument for a bad service name or id', async () => {
      const { flags } = setup();
      const badService = await runCli(['instances', 'Not A Name', ...flags]);
      expect(badService.code).toBe(2);
      expect(lines(badService.stderr)).toHaveLength(1);
      expect(badService.stderr).toContain('SERVICE');
      const badId = await runCli(['deregister', 'leaving', 'no/slash', ...flags]);
      expect(badId.code).toBe(2);
      expect(lines(badId.stderr)).toHaveLength(1);
      expect(badId.stderr).toContain('ID');
    });
  });
}

describe('against a proxy (embedded registry, admin API)', () => {
  let proxy: RunningProxy;
  let base = '';
  beforeAll(async () => {
    proxy = await startProxyProcess(['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--access-log', 'off']);
    base = `http://127.0.0.1:${proxy.admin.port}`;
  });
  afterAll(async () => {
    await proxy?.stop('SIGKILL');
  });
  const service = (id: string) => (id.startsWith('list') ? 'listed' : 'leaving');

  instancesAndDeregister('waypost instances / deregister --registry', () => ({
    flags: ['--registry', base],
    async register(id, port) {
      const res = await fetch(`${base}/v1/services/${service(id)}/instances`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id, host: '127.0.0.1', port }),
      });
      expect(res.status).toBe(201);
    },
  }));

  it('a --registry flag beats WAYPOST_REDIS_URL (flag > variable)', async () => {
    const dead = `redis://127.0.0.1:${await deadPort()}`;
    const result = await runCli(['services', '--registry', base, '--json'], { env: { WAYPOST_REDIS_URL: dead } });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toHaveProperty('services');
  });
});

describe('against Redis', () => {
  let redis: RedisServer;
  let store: RegistryStore;
  beforeAll(async () => {
    redis = await RedisServer.start();
    store = createStore(configSchema.parse({ registry: { store: 'redis' }, redis: { url: redis.url } }), { logger: silentLogger });
    await store.start();
  });
  afterAll(async () => {
    await store?.close();
    await redis?.stop();
  });

  instancesAndDeregister('waypost instances / deregister --redis', () => ({
    flags: ['--redis', redis.url],
    async register(id, port) {
      await store.register({ service: id.startsWith('list') ? 'listed' : 'leaving', id, host: '127.0.0.1', port });
    },
  }));
});

describe('--registry with --redis', () => {
  const both = ['--registry', 'http://127.0.0.1:1', '--redis', 'redis://127.0.0.1:1'];
  for (const command of [['services'], ['instances', 'orders'], ['deregister', 'orders', 'orders-1']]) {
    it(`${command[0]} exits 2 with one line naming both flags`, async () => {
      const result = await runCli([...command, ...both], { timeoutMs: 10_000 });
      expect(result.code).toBe(2);
      expect(lines(result.stderr)).toEqual(['waypost: --redis: give either --registry URL or --redis URL, not both']);
      expect(result.stdout).toBe('');
    });
  }

  it('both as variables is refused the same way, naming the variables', async () => {
    const result = await runCli(['services'], {
      env: { WAYPOST_REGISTRY: 'http://127.0.0.1:1', WAYPOST_REDIS_URL: 'redis://127.0.0.1:1' },
      timeoutMs: 10_000,
    });
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([
      'waypost: WAYPOST_REGISTRY: cannot be set together with WAYPOST_REDIS_URL; unset one, or choose with --registry URL or --redis URL',
    ]);
  });
});
