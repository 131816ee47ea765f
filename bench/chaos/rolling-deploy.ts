/**
 * Rolling deploy of 3 instances under steady load, each behind a `waypost
 * register` sidecar: SIGTERM the sidecar (DRAINING → drain delay → deregister →
 * exit 0), stop the old backend, start a new one, start its sidecar, wait until
 * it is registered UP, next. Expectation: 0 failed requests.
 */
import { startLoad } from '../../test/helpers/load.js';
import { instances, startBackendProcess, startProxy, startSidecar, waitUntil, type BackendProcess, type ChaosOptions, type ScenarioResult, type Sidecar } from './lib.js';

const SERVICE = 'web';

export async function rollingDeploy(options: ChaosOptions): Promise<ScenarioResult> {
  const log = options.log ?? (() => {});
  const proxy = await startProxy();
  const registry = `http://127.0.0.1:${proxy.admin.port}`;
  const fleet: { backend: BackendProcess; sidecar: Sidecar }[] = [];
  const sidecarExits: (number | null)[] = [];
  const launch = async (name: string): Promise<{ backend: BackendProcess; sidecar: Sidecar }> => {
    const backend = await startBackendProcess(name);
    const sidecar = startSidecar({
      service: SERVICE,
      address: backend.address,
      registry,
      extra: ['--id', name, '--check-path', '/healthz', '--check-interval', '500ms', '--drain-delay', '2s', '--ttl', '10', '--log-level', 'warn'],
    });
    await waitUntil(
      async () => (await instances(proxy.admin.port, SERVICE)).some((i) => i.id === name && i.status === 'UP'),
      `${name} registered UP`,
    );
    return { backend, sidecar };
  };
  try {
    for (let i = 0; i < 3; i++) fleet.push(await launch(`v1-${i}`));
    const load = startLoad({ port: proxy.http[0]!.port, host: `${SERVICE}.localhost`, concurrency: 16 });
    await new Promise((r) => setTimeout(r, 1000));
    for (let i = 0; i < 3; i++) {
      const old = fleet[i]!;
      log(`  replacing ${old.backend.name}`);
      sidecarExits.push(await old.sidecar.stop());
      await old.backend.kill('SIGTERM');
      fleet[i] = await launch(`v2-${i}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
    const report = await load.stop();
    const final = await instances(proxy.admin.port, SERVICE);
    const finalIds = final.map((i) => i.id).sort().join(',');
    return {
      name: 'rolling deploy (3 instances, sidecars)',
      expectation: '0 failed requests',
      sent: report.sent,
      failed: report.failed,
      lostRegistrations: undefined,
      passed: report.failed === 0 && sidecarExits.every((code) => code === 0) && finalIds === 'v2-0,v2-1,v2-2',
      notes: [
        `sidecar exit codes ${sidecarExits.join(',')}`,
        `registered after: ${finalIds}`,
        ...(report.failed > 0 ? [`failures: ${JSON.stringify(report.samples.slice(0, 3))}`] : []),
      ],
    };
  } finally {
    for (const { backend, sidecar } of fleet) {
      await sidecar.kill();
      await backend.kill('SIGKILL');
    }
    await proxy.stop('SIGKILL');
  }
}
