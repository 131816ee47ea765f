/**
 * The body of an HTTP/1.1 rounds bench (bench/h1-vs-main.ts, bench/multicore.ts): start the
 * backends and every system, measure them in interleaved wrk rounds (100 B unless `body` says), stop everything
 * by PID (also when a step throws). The caller only chooses systems, pinning and wrk's shape.
 */
import { bodyPath, startBackends } from './backends.js';
import { runWrk, wrkAvailable } from './load.js';
import { installMissingPeers } from './install.js';
import { runBench } from './options.js';
import type { Pinning } from './pin.js';
import { ProcessGroup } from './processes.js';
import { startContenders, type Contender } from './rounds.js';
import { measureGroup, type RoundsRow, type RunFigures } from './rounds-table.js';
import type { SystemDefinition } from './system.js';

export interface WrkRounds {
  group: string;
  systems: SystemDefinition[];
  pinning: Pinning;
  rounds: number;
  durationSeconds: number;
  connections: number;
  /** wrk -t; undefined = 1. */
  threads?: number;
  /** Answer size; undefined = 100 B. */
  body?: 100 | 16384;
}

export async function measureWrkRounds(spec: WrkRounds): Promise<{ rows: RoundsRow[]; skipped: { system: string; reason: string }[] }> {
  const processes = new ProcessGroup();
  const skipped: { system: string; reason: string }[] = [];
  const rows: RoundsRow[] = [];
  try {
    const backends = await startBackends(processes, spec.pinning);
    const started = await startContenders(spec.systems, { backends, group: processes, pinning: spec.pinning }, skipped);
    try {
      const measure = async ({ running }: Contender, seconds: number): Promise<RunFigures> => {
        const url = `http://127.0.0.1:${running.port}${bodyPath(spec.body ?? 100)}`;
        const request = { url, hostHeader: running.hostHeader, connections: spec.connections, threads: spec.threads, durationSeconds: seconds };
        const result = await runWrk(request, processes, spec.pinning);
        return { requestsPerSecond: result.requestsPerSecond, latencyMs: result.p99Ms, secondLatencyMs: result.p50Ms, errors: result.errors, non2xx: result.non2xx };
      };
      rows.push(...(await measureGroup(spec.group, started.contenders, spec.rounds, spec.durationSeconds, measure)));
    } finally {
      await started.stop();
    }
  } finally {
    await processes.stopAll();
  }
  return { rows, skipped };
}

/**
 * runBench for a script that needs wrk: wrk and the peers these scripts compare against are
 * installed when missing (as bench/run.ts does; BENCH_NO_INSTALL=1 skips it); without wrk, a
 * skip line and exit 0.
 */
export function runWrkBench<O>(parse: (argv: string[]) => O, run: (options: O) => Promise<number>): void {
  runBench(parse, async (options) => {
    installMissingPeers(process.env.BENCH_NO_INSTALL !== '1', ['wrk', 'nginx', 'haproxy']);
    if (wrkAvailable()) return run(options);
    console.log('skip: wrk not found (apt-get install -y wrk)');
    return 0;
  });
}
