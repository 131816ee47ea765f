/**
 * Redis Sentinel failover under load: 1 master, 1 replica, 3 sentinels, the
 * proxy on `redis.sentinels`. A writer registers a new instance through the
 * admin API every 50 ms, before, during and after the master's SIGKILL.
 * Expectations: 0 failed proxied requests; every registration answered 201 is
 * still in the registry after the failover (none lost).
 *
 * Durability: Waypost does not use WAIT. A 201 means the master applied the
 * write; replication to the replica is asynchronous (sub-millisecond on one
 * host). What closes the remaining window is re-registration: a client or
 * sidecar whose heartbeat gets 404 registers again.
 */
import { Redis } from 'ioredis';
import { startLoad } from '../../test/helpers/load.js';
import { RedisServer } from '../../test/helpers/redis-server.js';
import {
  SENTINEL_MASTER,
  SentinelProcess,
  instances,
  register,
  sentinelQuery,
  sleep,
  startBackendProcess,
  startProxy,
  waitUntil,
  type BackendProcess,
  type ChaosOptions,
  type ScenarioResult,
} from './lib.js';

const SERVICE = 'pay';
const WRITES = 'acks';

export async function sentinelFailover(options: ChaosOptions): Promise<ScenarioResult> {
  const log = options.log ?? (() => {});
  // Redis 7 delays a replica's first (diskless) full sync by repl-diskless-sync-delay, 5 s by
  // default; until then the replica is empty. 0 lets it sync at once (it is also awaited below).
  const master = await RedisServer.start({ args: ['--repl-diskless-sync-delay', '0'] });
  const replica = await RedisServer.start({ args: ['--replicaof', `127.0.0.1 ${master.port}`] });
  const sentinels: SentinelProcess[] = [];
  const backends: BackendProcess[] = [];
  let proxy: Awaited<ReturnType<typeof startProxy>> | undefined;
  try {
    for (let i = 0; i < 3; i++) sentinels.push(await SentinelProcess.start(master.port));
    // A failover needs every sentinel to know the replica and a quorum of its peers.
    for (const sentinel of sentinels) {
      await waitUntil(async () => {
        const replicas = (await sentinelQuery(sentinel.port, 'REPLICAS', SENTINEL_MASTER)) as unknown[];
        const peers = (await sentinelQuery(sentinel.port, 'SENTINELS', SENTINEL_MASTER)) as unknown[];
        return replicas.length === 1 && peers.length === 2;
      }, `sentinel ${sentinel.port} to discover its group`, 20_000, 100);
    }
    proxy = await startProxy({
      config: { redis: { sentinels: sentinels.map((s) => `127.0.0.1:${s.port}`), name: SENTINEL_MASTER } },
    });
    const admin = proxy.admin.port;
    for (let i = 0; i < 2; i++) {
      const backend = await startBackendProcess(`pay-${i}`);
      backends.push(backend);
      const reply = await register(admin, SERVICE, { id: backend.name, host: '127.0.0.1', port: backend.port, ttl: 300 });
      if (reply.status !== 201) throw new Error(`register answered ${reply.status}`);
    }

    const load = startLoad({ port: proxy.http[0]!.port, host: `${SERVICE}.localhost`, concurrency: 16 });
    const acknowledged: string[] = [];
    let refused = 0;
    let writing = true;
    const writer = (async () => {
      for (let n = 0; writing; n++) {
        const id = `w-${n}`;
        const reply = await register(admin, WRITES, { id, host: '127.0.0.1', port: 9, ttl: 300 }).catch(() => ({ status: 0, body: undefined }));
        if (reply.status === 201) acknowledged.push(id);
        else refused++;
        await sleep(50);
      }
    })();
    await sleep(2000);
    // Kill only a master whose replica holds the data: a replica still waiting for its first full
    // sync is promoted empty, and the lost registry is then reported as a Waypost failure.
    const replicaClient = new Redis({ port: replica.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    replicaClient.on('error', () => {});
    try {
      await waitUntil(async () => {
        const link = (await replicaClient.info('replication')).includes('master_link_status:up');
        return link && (await replicaClient.hlen(`{waypost}:svc:${SERVICE}`)) === backends.length;
      }, 'the replica to hold the registered backends', 20_000);
    } finally {
      replicaClient.disconnect();
    }
    log('  master SIGKILL');
    const killedAt = Date.now();
    await master.kill();
    await waitUntil(async () => {
      const [, port] = (await sentinelQuery(sentinels[0]!.port, 'GET-MASTER-ADDR-BY-NAME', SENTINEL_MASTER)) as string[];
      return Number(port) === replica.port;
    }, 'the replica promoted', 30_000, 100);
    const failoverMs = Date.now() - killedAt;
    // Writes resume on the new master.
    const ackedBefore = acknowledged.length;
    await waitUntil(() => acknowledged.length > ackedBefore + 5, 'writes to resume', 30_000);
    const resumedMs = Date.now() - killedAt;
    await sleep(options.quick ? 1000 : 5000);
    writing = false;
    await writer;
    const report = await load.stop();
    await sleep(500);
    const stored = new Set((await instances(admin, WRITES)).map((i) => i.id));
    const lost = acknowledged.filter((id) => !stored.has(id)).length;
    return {
      name: 'Redis Sentinel failover (master SIGKILL)',
      expectation: '0 failed; no acknowledged registration lost',
      sent: report.sent,
      failed: report.failed,
      lostRegistrations: lost,
      passed: report.failed === 0 && lost === 0,
      notes: [
        `replica promoted after ${(failoverMs / 1000).toFixed(1)} s, writes acknowledged again after ${(resumedMs / 1000).toFixed(1)} s`,
        `registrations acknowledged ${acknowledged.length}, refused while failing over ${refused}`,
        ...(report.failed > 0 ? [`failures ${JSON.stringify(report.samples.slice(0, 3))}`] : []),
      ],
    };
  } finally {
    for (const backend of backends) await backend.kill('SIGKILL');
    await proxy?.stop('SIGKILL');
    for (const sentinel of sentinels) await sentinel.stop();
    await replica.stop();
    await master.stop();
  }
}
