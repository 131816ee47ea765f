/**
 * Two proxies on one Redis. Load runs through proxy A while proxy B is SIGKILLed;
 * a service is registered while B is down; B is started again. Expectations:
 * A serves without a single failure; B answers /readyz 200 only once its mirror
 * holds the full registry (the service registered while it was down included).
 */
import { startLoad } from '../../test/helpers/load.js';
import { freePort } from '../../test/helpers/ports.js';
import { RedisServer } from '../../test/helpers/redis-server.js';
import {
  adminCall,
  proxyGet,
  register,
  sleep,
  startBackendProcess,
  startProxy,
  waitUntil,
  type BackendProcess,
  type ChaosOptions,
  type ScenarioResult,
} from './lib.js';

export async function proxyRestart(options: ChaosOptions): Promise<ScenarioResult> {
  const redis = await RedisServer.start();
  const backends: BackendProcess[] = [];
  const proxies: Awaited<ReturnType<typeof startProxy>>[] = [];
  try {
    const a = await startProxy({ redisUrl: redis.url });
    proxies.push(a);
    let b = await startProxy({ redisUrl: redis.url });
    proxies.push(b);
    for (let i = 0; i < 2; i++) {
      const backend = await startBackendProcess(`cart-${i}`);
      backends.push(backend);
      await register(a.admin.port, 'cart', { id: backend.name, host: '127.0.0.1', port: backend.port });
    }
    await waitUntil(async () => (await proxyGet(b.http[0]!.port, 'cart.localhost')).status === 200, 'B routes cart');

    const load = startLoad({ port: a.http[0]!.port, host: 'cart.localhost', concurrency: 16 });
    await sleep(1000);
    await b.stop('SIGKILL');
    // Changes B misses while it is down.
    const newcomer = await startBackendProcess('news-0');
    backends.push(newcomer);
    await register(a.admin.port, 'news', { id: newcomer.name, host: '127.0.0.1', port: newcomer.port });
    await sleep(options.quick ? 1000 : 3000);

    // Poll the new B's /readyz from the moment it is spawned: at its first 200 its admin API must already list the missed service.
    const adminPort = await freePort();
    let readyWithoutNews = false;
    let answeredBeforeReady = 0;
    const firstReady = waitUntil(async () => {
      const ready = await adminCall(adminPort, 'GET', '/readyz').catch(() => ({ status: 0, body: undefined }));
      if (ready.status === 503) answeredBeforeReady++;
      if (ready.status !== 200) return false;
      const services = await adminCall(adminPort, 'GET', '/v1/services');
      readyWithoutNews = !(services.body.services as { name: string }[]).some((s) => s.name === 'news');
      return true;
    }, 'B ready', 20_000, 5);
    b = await startProxy({ redisUrl: redis.url, adminPort });
    proxies.push(b);
    await firstReady;
    const bRoutesNews = (await proxyGet(b.http[0]!.port, 'news.localhost')).status === 200;
    await sleep(1000);
    const report = await load.stop();
    return {
      name: 'two proxies, one SIGKILLed and restarted',
      expectation: 'the other: 0 failed; restarted ready only after a full sync',
      sent: report.sent,
      failed: report.failed,
      lostRegistrations: undefined,
      passed: report.failed === 0 && !readyWithoutNews && bRoutesNews,
      notes: [
        `restarted proxy at first /readyz 200 knew the service registered while it was down: ${readyWithoutNews ? 'no' : 'yes'}`,
        `and routed it: ${bRoutesNews ? 'yes' : 'no'}; /readyz answers 503 before that: ${answeredBeforeReady}`,
      ],
    };
  } finally {
    for (const backend of backends) await backend.kill('SIGKILL');
    for (const proxy of proxies) await proxy.stop('SIGKILL');
    await redis.stop();
  }
}
