/**
 * SIGKILL the registry's redis-server under load for 30 s (10 s quick), then
 * restart it on the same port with the same data directory (AOF, fsync always,
 * as a production Redis would run). Three instances are kept by `waypost
 * register` sidecars (heartbeat 404 → register again).
 * Expectations: 0 failed requests on the known route; an API registration while
 * Redis is down gets 503 registry_unavailable; after the restart the mirror
 * resyncs (a new registration is routed) and no acknowledged registration is lost.
 */
import { startLoad } from '../../test/helpers/load.js';
import { RedisServer } from '../../test/helpers/redis-server.js';
import {
  instances,
  proxyGet,
  register,
  sleep,
  startBackendProcess,
  startProxy,
  startSidecar,
  waitUntil,
  type BackendProcess,
  type ChaosOptions,
  type ScenarioResult,
  type Sidecar,
} from './lib.js';

const SERVICE = 'shop';

export async function redisKill(options: ChaosOptions): Promise<ScenarioResult> {
  const log = options.log ?? (() => {});
  const outageMs = options.quick ? 10_000 : 30_000;
  const redis = await RedisServer.start({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
  const backends: BackendProcess[] = [];
  const sidecars: Sidecar[] = [];
  let proxy: Awaited<ReturnType<typeof startProxy>> | undefined;
  let late: BackendProcess | undefined;
  try {
    proxy = await startProxy({ redisUrl: redis.url });
    const admin = proxy.admin.port;
    for (let i = 0; i < 3; i++) {
      const backend = await startBackendProcess(`shop-${i}`);
      backends.push(backend);
      sidecars.push(
        startSidecar({
          service: SERVICE,
          address: backend.address,
          registry: `http://127.0.0.1:${admin}`,
          extra: ['--id', backend.name, '--check-interval', '1s', '--ttl', '30', '--log-level', 'warn'],
        }),
      );
    }
    await waitUntil(async () => (await instances(admin, SERVICE)).filter((i) => i.status === 'UP').length === 3, '3 instances UP');

    const load = startLoad({ port: proxy.http[0]!.port, host: `${SERVICE}.localhost`, concurrency: 16 });
    await sleep(1000);
    log('  redis SIGKILL');
    await redis.kill();
    await sleep(500);
    late = await startBackendProcess('late-0');
    const during = await register(admin, 'late', { id: 'late-0', host: '127.0.0.1', port: late.port });
    const refusedClearly = during.status === 503 && during.body?.error === 'registry_unavailable';
    await sleep(outageMs - 500);
    log('  redis restart');
    await redis.spawn();

    // The mirror resyncs: a registration made now is routed.
    const resyncStarted = Date.now();
    let after = await register(admin, 'late', { id: 'late-0', host: '127.0.0.1', port: late.port });
    while (after.status !== 201 && Date.now() - resyncStarted < 15_000) {
      await sleep(200);
      after = await register(admin, 'late', { id: 'late-0', host: '127.0.0.1', port: late.port });
    }
    let routed = false;
    await waitUntil(async () => (routed = (await proxyGet(proxy!.http[0]!.port, 'late.localhost')).status === 200), 'the late service routed', 15_000).catch(() => {});
    const resyncMs = Date.now() - resyncStarted;
    await sleep(2000);
    const report = await load.stop();
    const present = new Set((await instances(admin, SERVICE)).map((i) => i.id));
    const lost = backends.filter((b) => !present.has(b.name)).length;
    return {
      name: `Redis SIGKILL for ${outageMs / 1000} s, restart`,
      expectation: '0 failed; 503 registry_unavailable while down; resync after',
      sent: report.sent,
      failed: report.failed,
      lostRegistrations: lost,
      passed: report.failed === 0 && refusedClearly && after.status === 201 && routed && lost === 0,
      notes: [
        `registration while down: ${during.status} ${during.body?.error ?? ''}`.trim(),
        `after restart: registration ${after.status}, routed ${routed ? 'yes' : 'no'} within ${(resyncMs / 1000).toFixed(1)} s`,
        ...(report.failed > 0 ? [`failures ${JSON.stringify(report.samples.slice(0, 3))}`] : []),
      ],
    };
  } finally {
    for (const sidecar of sidecars) await sidecar.kill();
    for (const backend of backends) await backend.kill('SIGKILL');
    await late?.kill('SIGKILL');
    await proxy?.stop('SIGKILL');
    await redis.stop();
  }
}
