/** Every chaos scenario, in the order `npm run chaos` runs them. */
import { backendKill } from './backend-kill.js';
import type { ChaosOptions, ScenarioResult } from './lib.js';
import { proxyRestart } from './proxy-restart.js';
import { redisKill } from './redis-kill.js';
import { rollingDeploy } from './rolling-deploy.js';
import { sentinelFailover } from './sentinel-failover.js';
import { slowBackend } from './slow-backend.js';

export interface Scenario {
  readonly key: string;
  run(options: ChaosOptions): Promise<ScenarioResult>;
}

export const SCENARIOS: readonly Scenario[] = [
  { key: 'rolling-deploy', run: rollingDeploy },
  { key: 'backend-kill', run: backendKill },
  { key: 'redis-kill', run: redisKill },
  { key: 'sentinel-failover', run: sentinelFailover },
  { key: 'proxy-restart', run: proxyRestart },
  { key: 'slow-backend', run: slowBackend },
];
