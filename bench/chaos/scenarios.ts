/** Every chaos scenario, in the order `npm run chaos` runs them. */
import type { ChaosOptions, ScenarioResult } from './lib.js';
import { backendKill } from './backend-kill.js';
import { redisKill } from './redis-kill.js';
import { rollingDeploy } from './rolling-deploy.js';

export interface Scenario {
  readonly key: string;
  run(options: ChaosOptions): Promise<ScenarioResult>;
}

export const SCENARIOS: readonly Scenario[] = [
  { key: 'rolling-deploy', run: rollingDeploy },
  { key: 'backend-kill', run: backendKill },
  { key: 'redis-kill', run: redisKill },
];
