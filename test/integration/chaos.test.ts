/**
 * The chaos scenarios of `npm run chaos` in their --quick form (10 s Redis
 * outage, short loads), against real processes: the built CLI (dist/, made by
 * pretest), backend processes, sidecars, redis-server. The Sentinel failover
 * scenario runs only in `npm run chaos` (its failover alone takes ~3 s plus the
 * group's discovery; test/integration/redis-sentinel.test.ts covers the store).
 */
import { describe, expect, it } from 'vitest';
import { backendKill } from '../../bench/chaos/backend-kill.js';
import type { ScenarioResult } from '../../bench/chaos/lib.js';
import { proxyRestart } from '../../bench/chaos/proxy-restart.js';
import { redisKill } from '../../bench/chaos/redis-kill.js';
import { rollingDeploy } from '../../bench/chaos/rolling-deploy.js';
import { slowBackend } from '../../bench/chaos/slow-backend.js';
import { PROCESS_START_BUDGET_MS } from '../helpers/cli.js';

const quick = { quick: true };

/**
 * The rolling deploy is mostly process start-ups (~20-30 s in all, most of it starting processes): the proxy,
 * then 6 launches of a backend and its sidecar. Its fixed waits are 2 × 1 s of steady load and 3 drain
 * delays of 2 s. Each start-up gets the same budget as everywhere else (backend and sidecar count as one:
 * the backend is a few lines of node).
 */
const ROLLING_DEPLOY_MS = 2 * 1_000 + 3 * 2_000 + (1 + 6) * PROCESS_START_BUDGET_MS;

function expectHeld(result: ScenarioResult): void {
  expect(result.sent, result.notes.join('; ')).toBeGreaterThan(0);
  expect(result.passed, `${result.name}: ${result.notes.join('; ')}`).toBe(true);
}

describe('chaos (quick)', { timeout: 60_000 }, () => {
  it('serves a rolling deploy of 3 sidecar-registered instances without a failed request', async () => {
    const result = await rollingDeploy(quick);
    expect(result.failed).toBe(0);
    expectHeld(result);
  }, ROLLING_DEPLOY_MS);

  it('bounds failures of a backend SIGKILL by the requests in flight and has none after', async () => {
    expectHeld(await backendKill(quick));
  });

  it('keeps routing through a 10 s Redis outage, answers registrations 503 meanwhile and resyncs after', async () => {
    const result = await redisKill(quick);
    expect(result.failed).toBe(0);
    expect(result.lostRegistrations).toBe(0);
    expect(result.notes[0]).toBe('registration while down: 503 registry_unavailable');
    expectHeld(result);
  });

  it('leaves one proxy untouched when its peer is killed, and the peer is ready only after a full sync', async () => {
    const result = await proxyRestart(quick);
    expect(result.failed).toBe(0);
    expectHeld(result);
  });

  it('answers slow and silent backends with 504 while the admin API stays responsive and memory flat', async () => {
    expectHeld(await slowBackend(quick));
  });
});
