/**
 * The real app with one route (`api.test` → service `api`) carrying the policy keys a
 * test gives, and its instances registered; plus the per-test cleanup and metric reads
 * the policy suites share.
 */
import { afterEach } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import type { InstanceProtocol } from '../../src/types.js';
import { startApp, type TestApp } from './app.js';
import type { ScriptedBackend } from './scripted-backend.js';

export const POLICY_HOST = 'api.test';

/** What a test started; stopped after each test (registered by policySuite). */
export interface PolicySuite {
  app: TestApp | undefined;
  readonly backends: ScriptedBackend[];
}

export function policySuite(): PolicySuite {
  const suite: PolicySuite = { app: undefined, backends: [] };
  afterEach(async () => {
    await suite.app?.stop();
    suite.app = undefined;
    await Promise.all(suite.backends.splice(0).map((b) => b.close()));
  });
  return suite;
}

/** Starts the app with `policy` on the route and registers one instance per port (`api-0`, `api-1`, …). */
export async function startPolicyApp(
  suite: PolicySuite,
  policy: Record<string, unknown>,
  instances: { port: number; protocol?: InstanceProtocol }[],
  overrides: Record<string, unknown> = {},
): Promise<TestApp> {
  const app = await startApp({ routes: [{ host: POLICY_HOST, service: 'api', ...policy }], ...overrides } as Partial<ConfigInput>);
  suite.app = app;
  for (const [i, instance] of instances.entries()) await app.register({ service: 'api', id: `api-${i}`, host: '127.0.0.1', ...instance });
  return app;
}

/** The sum over every series of one metric. */
export async function metricSum(t: TestApp, name: string): Promise<number> {
  const found = (await t.app.metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  return ((found?.values ?? []) as { value: number }[]).reduce((sum, v) => sum + v.value, 0);
}
