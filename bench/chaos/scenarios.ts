/** Every chaos scenario, in the order `npm run chaos` runs them. */
import type { ChaosOptions, ScenarioResult } from './lib.js';
import { rollingDeploy } from './rolling-deploy.js';

export interface Scenario {
  readonly key: string;
  run(options: ChaosOptions): Promise<ScenarioResult>;
}

export const SCENARIOS: readonly Scenario[] = [{ key: 'rolling-deploy', run: rollingDeploy }];
