/** Shared start for peers that are external binaries: write config, start pinned, wait for the port. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../../test/helpers/ports.js';
import { waitForPort } from '../processes.js';
import type { RunningSystem, SystemContext } from '../system.js';

export interface ExternalStart {
  name: string;
  command: string;
  configFile: string;
  /** Config text for the chosen listen port. */
  config(port: number): string;
  args(configPath: string): string[];
  env?(context: SystemContext): NodeJS.ProcessEnv;
}

export async function startExternal(context: SystemContext, spec: ExternalStart): Promise<RunningSystem> {
  const port = await freePort();
  const configPath = path.join(context.tmpDir, spec.configFile);
  writeFileSync(configPath, spec.config(port));
  const started = context.group.start(spec.name, spec.command, spec.args(configPath), {
    cpu: context.pinning.proxyCpu,
    cwd: context.tmpDir,
    env: spec.env?.(context) ?? process.env,
  });
  try {
    await waitForPort(port, 15_000, started);
  } catch (error) {
    await context.group.stop(started);
    throw error;
  }
  return { port, pid: started.pid, stop: () => context.group.stop(started) };
}
