/**
 * A real Sentinel group (1 master, 1 replica, 3 sentinels, all redis-server
 * processes) and a store that finds the master through the sentinels. The master
 * is SIGKILLed; registration must keep working after the failover, and what was
 * registered before (and had reached the replica) must still be there.
 *
 * Replication is proven in the test, not with WAIT in the write path: the test
 * reads the instance from the replica directly before killing the master.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/registry/redis-store.js';
import { FeedRecorder, sleep, waitFor } from '../contract/store.contract.js';
import { freePort } from '../helpers/ports.js';
import { RedisServer, waitForPort } from '../helpers/redis-server.js';

const MASTER_NAME = 'mymaster';

class SentinelProcess {
  readonly #child: ChildProcess;
  readonly #dir: string;

  private constructor(
    readonly port: number,
    child: ChildProcess,
    dir: string,
  ) {
    this.#child = child;
    this.#dir = dir;
  }

  static async start(masterPort: number): Promise<SentinelProcess> {
    const port = await freePort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'waypost-sentinel-'));
    const conf = path.join(dir, 'sentinel.conf');
    // Sentinel rewrites its config file, so it lives in a writable temp dir.
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        'sentinel resolve-hostnames no',
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
        `sentinel failover-timeout ${MASTER_NAME} 3000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`,
        '',
      ].join('\n'),
    );
    const child = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
    await waitForPort(port, 10_000);
    return new SentinelProcess(port, child, dir);
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

async function sentinelQuery(port: number, ...args: string[]): Promise<unknown> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  client.on('error', () => {});
  try {
    await client.connect();
    return await client.call('SENTINEL', ...args);
  } finally {
    client.disconnect();
  }
}

describe('redis store on Sentinel', () => {
  let master: RedisServer;
  let replica: RedisServer;
  const sentinels: SentinelProcess[] = [];

  beforeAll(async () => {
    master = await RedisServer.start();
    replica = await RedisServer.start({ args: ['--replicaof', `127.0.0.1 ${master.port}`] });
    for (let i = 0; i < 3; i += 1) sentinels.push(await SentinelProcess.start(master.port));
    // A failover needs every sentinel to know the replica and a quorum of its peers.
    for (const sentinel of sentinels) {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const replicas = (await sentinelQuery(sentinel.port, 'REPLICAS', MASTER_NAME)) as unknown[];
        const peers = (await sentinelQuery(sentinel.port, 'SENTINELS', MASTER_NAME)) as unknown[];
        if (replicas.length === 1 && peers.length === 2) break;
        if (Date.now() > deadline) throw new Error(`sentinel ${sentinel.port} did not discover its group`);
        await sleep(100);
      }
    }
  });

  afterAll(async () => {
    for (const sentinel of sentinels) await sentinel.stop();
    await replica?.stop();
    await master?.stop();
  });

  it('keeps registering after the master is killed and keeps what was replicated before', async () => {
    const prefix = `sentinel-${process.pid}`;
    const store = new RedisStore({
      redis: {
        url: `redis+sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${MASTER_NAME}`,
        sentinels: [], name: '', cluster: [], password: '', prefix, feedLength: 1000,
      },
    });
    const replicaClient = new Redis({ port: replica.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    replicaClient.on('error', () => {});
    let feed: FeedRecorder | undefined;
    try {
      await store.start();
      feed = new FeedRecorder(store, 0);
      await store.register({ service: 'orders', id: 'before', host: '10.0.0.1', port: 80 });
      const deadline = Date.now() + 5000;
      while (!(await replicaClient.hexists(`{${prefix}}:svc:orders`, 'before'))) {
        if (Date.now() > deadline) throw new Error('the registration never reached the replica');
        await sleep(50);
      }

      await master.kill();
      const killedAt = Date.now();
      let after: Awaited<ReturnType<RedisStore['register']>> | undefined;
      while (!after) {
        after = await store.register({ service: 'orders', id: 'after', host: '10.0.0.2', port: 80 }).catch((err: unknown) => {
          if (Date.now() - killedAt > 15_000) throw err;
          return undefined;
        });
      }
      expect(after.created).toBe(true);
      const orders = await store.getService('orders');
      expect(orders.instances.map((i) => i.id)).toEqual(['after', 'before']);
      // The replica is the master now.
      const [, masterPort] = (await sentinelQuery(sentinels[0]!.port, 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)) as string[];
      expect(Number(masterPort)).toBe(replica.port);
      // The feed reader reconnected to the new master and asked for a resync.
      await waitFor(() => feed!.resets.includes('reconnect'), 'a reconnect reset', 10_000);
    } finally {
      feed?.subscription.close();
      replicaClient.disconnect();
      await store.close();
    }
  });
});
