/**
 * A real Sentinel group (1 master, 1 replica, 3 sentinels, all redis-server
 * processes) and a store that finds the master through the sentinels. The master
 * is SIGKILLed; registration must keep working after the failover, and what was
 * registered before (and had reached the replica) must still be there.
 *
 * Replication is proven in the test, not with WAIT in the write path: the test
 * reads the instance from the replica directly before killing the master.
 *
 * Redis 7 delays a replica's first (diskless) full sync by repl-diskless-sync-delay,
 * 5 s by default, and a replica promoted before it is empty: the masters here run
 * with 0, and every test waits for the replica to hold its data before the kill.
 */
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { RegistryMirror } from '../../src/mirror/mirror.js';
import { RedisStore } from '../../src/registry/redis-store.js';
import { FeedRecorder } from '../contract/store.contract.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { RedisServer, redisStoreOptions } from '../helpers/redis-server.js';
import { MASTER_NAME, SentinelGroup, sentinelQuery, type SentinelProcess } from '../helpers/sentinel.js';

describe('redis store on Sentinel', () => {
  let group: SentinelGroup;
  let master: RedisServer;
  let replica: RedisServer;
  let sentinels: SentinelProcess[];

  beforeAll(async () => {
    group = await SentinelGroup.start();
    ({ master, replica, sentinels } = group);
  });

  afterAll(async () => {
    await group?.stop();
  });

  it('keeps registering after the master is killed and keeps what was replicated before', async () => {
    const prefix = `sentinel-${process.pid}`;
    const store = new RedisStore({
      redis: redisStoreOptions({
        url: `redis+sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${MASTER_NAME}`,
        prefix,
        feedLength: 1000,
      }),
    });
    const replicaClient = new Redis({ port: replica.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    replicaClient.on('error', () => {});
    let feed: FeedRecorder | undefined;
    try {
      await store.start();
      feed = new FeedRecorder(store, 0);
      await store.register({ service: 'orders', id: 'before', host: '10.0.0.1', port: 80 });
      await waitFor('the registration to reach the replica', async () => (await replicaClient.hexists(`{${prefix}}:svc:orders`, 'before')) === 1, {
        intervalMs: 50,
      });

      // Only a reader that was connected before the kill can tell a reconnect (else it simply connects to the new master).
      await waitFor('the feed reader to connect', () => feed!.connection.includes(true));
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
      await waitFor('a reconnect reset', () => feed!.resets.includes('reconnect'), { timeoutMs: 10_000 });
    } finally {
      feed?.subscription.close();
      replicaClient.disconnect();
      await store.close();
    }
  });
});

describe('a mirror following a Sentinel registry through a failover', () => {
  let group: SentinelGroup;

  beforeAll(async () => {
    group = await SentinelGroup.start();
  });

  afterAll(async () => {
    await group?.stop();
  });

  it('holds every instance registered before and every write acknowledged after, with writes going on for 5 s and no early expiry', async () => {
    const prefix = `sentinel-mirror-${process.pid}`;
    const openStore = () =>
      new RedisStore({
        redis: redisStoreOptions({ url: group.url, prefix, feedLength: 10_000 }),
      });
    // Two stores, like a registrar and a proxy: the proxy's mirror must follow the writer through the failover.
    const writer = openStore();
    const follower = openStore();
    const logLines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
    const mirror = new RegistryMirror({ store: follower, logger, resyncInitialDelayMs: 20, resyncMaxDelayMs: 200 });
    const replicaClient = new Redis({ port: group.replica.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    replicaClient.on('error', () => {});
    let writing = true;
    let writes: Promise<void> | undefined;
    try {
      await writer.start();
      await follower.start();
      await mirror.start();
      const before = ['pay-0', 'pay-1', 'pay-2', 'pay-3', 'pay-4'];
      for (const id of before) await writer.register({ service: 'pay', id, host: '10.0.0.1', port: 80, ttl: 300 });
      await waitFor('the registrations to reach the replica', async () => (await replicaClient.hlen(`{${prefix}}:svc:pay`)) === before.length, {
        intervalMs: 50,
      });
      await waitFor('the mirror to hold every instance', () => mirror.service('pay')?.instances.length === before.length);

      await group.master.kill();
      const acknowledged: string[] = [];
      writes = (async () => {
        for (let n = 0; writing; n += 1) {
          const id = `w-${n}`;
          // A refused write (failover in progress) may still have been applied; only 201s are promised.
          const ok = await writer.register({ service: 'acks', id, host: '10.0.0.2', port: 80, ttl: 300 }).then(
            () => true,
            () => false,
          );
          if (ok) acknowledged.push(id);
          await sleep(50);
        }
      })();
      await waitFor('writes to resume on the new master', () => acknowledged.length > 5, { timeoutMs: 20_000 });
      // Past the sweep interval (1 s) several times over on the new master.
      await sleep(5000);
      // The sweep still expires on the new master: a 1 s lease registered now is gone within a few sweeps.
      await writer.register({ service: 'short', id: 'short-0', host: '10.0.0.3', port: 80, ttl: 1 });
      writing = false;
      await writes;
      await waitFor('the 1 s lease to expire in the mirror', () => mirror.service('short')?.instances.length === 0, { timeoutMs: 10_000 });

      const final = await writer.state();
      await waitFor(`the mirror to reach revision ${final.revision}`, () => mirror.revision >= final.revision, { timeoutMs: 10_000 });
      expect(mirror.service('pay')?.instances.map((i) => i.id)).toEqual(before);
      const routed = new Set(mirror.service('acks')?.instances.map((i) => i.id));
      expect(acknowledged.filter((id) => !routed.has(id))).toEqual([]);
      // The mirror is exactly the registry: nothing it holds expired or vanished in Redis.
      const stored = final.services.filter((s) => s.instances.length > 0).map((s) => [s.name, s.instances.map((i) => i.id)]);
      const mirrored = [...mirror.services()].filter((s) => s.instances.length > 0).map((s) => [s.name, s.instances.map((i) => i.id)]);
      expect(mirrored.sort()).toEqual(stored.sort());
      expect(logLines.filter((line) => line.includes('registry revision went backwards'))).toEqual([]);
    } finally {
      writing = false;
      await writes;
      mirror.close();
      replicaClient.disconnect();
      await follower.close();
      await writer.close();
    }
  });
});

describe('redis store durability setting', () => {
  it('answers registry_unavailable when the master refuses writes for lack of replicas (min-replicas-to-write)', async () => {
    const server = await RedisServer.start({ args: ['--min-replicas-to-write', '1'] });
    const store = new RedisStore({
      redis: redisStoreOptions({ url: server.url, prefix: 'noreplicas', feedLength: 100 }),
      writeRetryMs: 300,
    });
    try {
      await store.start();
      const failure = await store.register({ service: 'orders', id: 'a', host: '10.0.0.1', port: 80 }).catch((err: unknown) => err);
      expect(failure).toMatchObject({ code: ErrorCodes.REGISTRY_UNAVAILABLE });
      expect((failure as Error).message).toMatch(
        new RegExp(`^Redis at ${new URL(server.url).host} refused the command: NOREPLICAS Not enough good replicas to write\\.`),
      );
      // Refused whole: nothing was stored.
      expect((await store.state()).services).toEqual([]);
    } finally {
      await store.close();
      await server.stop();
    }
  });
});
