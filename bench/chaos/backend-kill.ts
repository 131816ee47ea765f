/**
 * SIGKILL one of 3 backend processes under load. Requests already written to
 * it when it dies fail (they cannot be replayed safely); everything after gets
 * ECONNREFUSED from the dead port and is retried on another instance.
 * Expectation: failures ≤ requests in flight at the kill, 0 after the first second.
 */
import { startLoad } from '../../test/helpers/load.js';
import { register, sleep, startBackendProcess, startProxy, type BackendProcess, type ChaosOptions, type ScenarioResult } from './lib.js';

const SERVICE = 'api';
/** Failures this long after the kill count as "after" (connections that were mid-write settle first). */
const SETTLE_MS = 1000;

export async function backendKill(options: ChaosOptions): Promise<ScenarioResult> {
  const proxy = await startProxy();
  const backends: BackendProcess[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const backend = await startBackendProcess(`api-${i}`);
      backends.push(backend);
      const reply = await register(proxy.admin.port, SERVICE, { id: backend.name, host: '127.0.0.1', port: backend.port });
      if (reply.status !== 201) throw new Error(`register answered ${reply.status}`);
    }
    const phaseMs = options.quick ? 2000 : 5000;
    const load = startLoad({ port: proxy.http[0]!.port, host: `${SERVICE}.localhost`, concurrency: 32 });
    const started = performance.now();
    await sleep(phaseMs);
    const inflightAtKill = load.inflight;
    const killAtMs = performance.now() - started;
    await backends[0]!.kill('SIGKILL');
    await sleep(phaseMs * 2);
    const report = await load.stop();
    const late = report.failureTimes.filter((atMs) => atMs > killAtMs + SETTLE_MS).length;
    return {
      name: 'backend SIGKILL under load',
      expectation: 'failed ≤ in flight at the kill; 0 after 1 s',
      sent: report.sent,
      failed: report.failed,
      lostRegistrations: undefined,
      passed: report.failed <= inflightAtKill && late === 0,
      notes: [
        `in flight at the kill ${inflightAtKill} (32 clients)`,
        `failures later than 1 s after the kill ${late}`,
        ...(report.failed > 0 ? [`kinds ${JSON.stringify({ ...report.codes, ...report.errors })}`] : []),
      ],
    };
  } finally {
    for (const backend of backends) await backend.kill('SIGKILL');
    await proxy.stop('SIGKILL');
  }
}
