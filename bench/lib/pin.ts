/**
 * CPU pinning: the proxy under test gets CPU 1 to itself; the load generator (this process,
 * autocannon runs in it, and wrk) and the backends share CPU 0. Figures only compare when every
 * system gets the same core budget, so pinning is all or nothing for one run.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';

export interface Pinning {
  /** CPU for the system under test; undefined = not pinned. */
  proxyCpu: number | undefined;
  /** CPU for load generators and backends; undefined = not pinned. */
  loadCpu: number | undefined;
  /** One line for the report. */
  description: string;
}

export function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Decide the pinning for this run and pin this process (the autocannon driver) to the load CPU. */
export function choosePinning(enabled = true): Pinning {
  if (!enabled) return { proxyCpu: undefined, loadCpu: undefined, description: 'not pinned (--no-pin)' };
  const cpus = os.availableParallelism();
  if (!hasCommand('taskset')) {
    return { proxyCpu: undefined, loadCpu: undefined, description: 'not pinned: taskset not found' };
  }
  if (cpus < 2) {
    return { proxyCpu: undefined, loadCpu: undefined, description: `not pinned: only ${cpus} CPU available` };
  }
  try {
    execFileSync('taskset', ['-pc', '0', String(process.pid)], { stdio: 'ignore' });
  } catch (error) {
    return { proxyCpu: undefined, loadCpu: undefined, description: `not pinned: taskset failed (${(error as Error).message})` };
  }
  return {
    proxyCpu: 1,
    loadCpu: 0,
    description: `taskset: proxy on CPU 1; load generator and backends on CPU 0 (${cpus} CPUs)`,
  };
}
