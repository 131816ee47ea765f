/**
 * Interleaved rounds (BENCH.md "Noise"): speed on this machine kind drifts up to 2× within
 * minutes, so systems are measured A B C A B C … rather than A A A B B B, and each reports its
 * median and its spread over the rounds. A spread above SPREAD_LIMIT marks the figure as noise.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ForeignLoadMonitor, ResourceMonitor } from './resources.js';
import { skippedAsUnavailable, type RunningSystem, type SystemContext, type SystemDefinition } from './system.js';

export const SPREAD_LIMIT_PERCENT = 15;

export function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** (max − min) / median, in %: 0 for a single round. */
export function spreadPercent(values: number[]): number {
  const mid = median(values);
  return mid > 0 ? ((Math.max(...values) - Math.min(...values)) / mid) * 100 : 0;
}

/** One measured run: what the load tool reports, plus the proxy's CPU and the foreign CPU. */
export interface RoundSample<T> {
  result: T;
  proxyCpuPercent: number | undefined;
  /** The proxy's highest RSS during the run, bytes (undefined when it has no PID of ours). */
  proxyPeakRssBytes: number | undefined;
  otherCpuPercent: number;
}

export interface Contender {
  definition: SystemDefinition;
  running: RunningSystem;
}

export interface StartedContenders {
  contenders: Contender[];
  /** Stops every started system and removes its temp dir. */
  stop(): Promise<void>;
}

/**
 * Starts every system before the first round (interleaving needs them all up at once; an idle
 * proxy costs nothing measurable). One that cannot start is skipped with its reason.
 */
export async function startContenders(
  definitions: SystemDefinition[],
  context: Omit<SystemContext, 'tmpDir'>,
  skipped: { system: string; reason: string }[],
): Promise<StartedContenders> {
  const contenders: Contender[] = [];
  const tmpDirs: string[] = [];
  for (const definition of definitions) {
    if (await skippedAsUnavailable(definition, skipped)) continue;
    const tmpDir = mkdtempSync(path.join(os.tmpdir(), `waypost-bench-${definition.id}-`));
    tmpDirs.push(tmpDir);
    try {
      contenders.push({ definition, running: await definition.start({ ...context, tmpDir }) });
    } catch (error) {
      const message = (error as Error).message.split('\n').slice(0, 2).join(' ⏎ ').slice(0, 400);
      console.log(`skip ${definition.id}: ${message}`);
      skipped.push({ system: definition.id, reason: message });
    }
  }
  return {
    contenders,
    stop: async () => {
      await Promise.all(contenders.map((c) => c.running.stop()));
      for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs `rounds` rounds; in each, every contender is measured once, in the same order. A run that
 * throws is logged and counted out; the other contenders go on.
 */
export async function runInterleaved<T>(
  contenders: Contender[],
  rounds: number,
  measure: (contender: Contender) => Promise<T>,
  describe: (id: string, sample: RoundSample<T>) => string,
): Promise<Map<string, RoundSample<T>[]>> {
  const samples = new Map<string, RoundSample<T>[]>(contenders.map((c) => [c.definition.id, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const contender of contenders) {
      const monitor = contender.running.pid !== undefined ? new ResourceMonitor(contender.running.pid) : undefined;
      const others = new ForeignLoadMonitor();
      try {
        const result = await measure(contender);
        const resources = monitor?.stop();
        const sample = { result, proxyCpuPercent: resources?.cpuPercent, proxyPeakRssBytes: resources?.peakRssBytes, otherCpuPercent: others.stop() };
        samples.get(contender.definition.id)!.push(sample);
        console.log(`  round ${round} ${describe(contender.definition.id, sample)}`);
      } catch (error) {
        monitor?.stop();
        others.stop();
        console.log(`  round ${round} ${contender.definition.id}: failed: ${(error as Error).message.split('\n')[0]}`);
      }
    }
  }
  return samples;
}
