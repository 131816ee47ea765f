/**
 * The Redis store on a real 3-master Redis Cluster. Every key shares the hash tag
 * `{prefix}`, so each script runs on one node; this suite shows register,
 * the change feed and lease expiry work through ioredis' Cluster client.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/registry/redis-store.js';
import { FeedRecorder } from '../contract/store.contract.js';
import { waitFor } from '../helpers/wait.js';
import { freeClusterPort } from '../helpers/ports.js';
import { RedisServer, redisStoreOptions } from '../helpers/redis-server.js';

const run = promisify(execFile);

async function clusterState(port: number): Promise<string> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  client.on('error', () => {});
  try {
    await client.connect();
    const info = (await client.call('CLUSTER', 'INFO')) as string;
    return /cluster_state:(\w+)/.exec(info)?.[1] ?? 'unknown';
  } finally {
    client.disconnect();
  }
}

describe('redis store on Cluster', () => {
  const nodes: RedisServer[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 3; i += 1) {
      // Cluster bus port = port + 10000, so ports stay ≤ 55535.
      nodes.push(
        await RedisServer.start({
          port: await freeClusterPort(),
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'],
        }),
      );
    }
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-yes']);
    for (const node of nodes) {
      await waitFor(`cluster node ${node.port} to reach cluster_state:ok`, async () => (await clusterState(node.port)) === 'ok', {
        timeoutMs: 15_000,
        intervalMs: 100,
      });
    }
  });

  afterAll(async () => {
    for (const node of nodes) await node.stop();
  });

  it('registers, feeds changes and expires leases through the Cluster client', async () => {
    const store = new RedisStore({
      redis: redisStoreOptions({ cluster: nodes.map((n) => `127.0.0.1:${n.port}`), feedLength: 1000 }),
      sweepIntervalMs: 100,
    });
    await store.start();
    const feed = new FeedRecorder(store, 0);
    try {
      const { record, created } = await store.register({ service: 'orders', id: 'o-1', host: '10.0.0.1', port: 80, ttl: 1 });
      expect(created).toBe(true);
      await store.register({ service: 'billing', id: 'b-1', host: '10.0.0.2', port: 80, ttl: 30 });
      expect(await store.listServices()).toEqual([
        { name: 'billing', instances: 1 },
        { name: 'orders', instances: 1 },
      ]);
      await feed.waitForCount(3, 8000);
      expect(feed.summary()).toEqual(['register orders/o-1', 'register billing/b-1', 'expire orders/o-1']);
      expect(feed.events[0]!.instance).toEqual(record);
      const state = await store.state();
      expect(state.revision).toBe(3);
      expect(state.services.map((s) => s.name)).toEqual(['billing']);
    } finally {
      feed.subscription.close();
      await store.close();
    }
  });
});
