/**
 * Bench settings from flags, then env (BENCH_*), then defaults; `--quick` changes the defaults
 * so a whole run stays under a minute. Bad values stop the run with one line naming the flag.
 */
import type { LoadTool } from './load.js';

export interface BenchOptions {
  quick: boolean;
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
  bodies: number[];
  /** Requested ids or id prefixes; undefined = the default set. */
  systems: string[] | undefined;
  tools: LoadTool[] | 'auto';
  runs: number;
  /** Paced open-loop load at this total rate instead of wrk/autocannon at saturation. */
  rate: number | undefined;
  install: boolean;
  pin: boolean;
}

export const USAGE = `npx tsx bench/run.ts [options]
  --quick                 under 40 s: 100 B only, 1 s runs, one tool, the key systems
  --duration S            seconds per measured run (env BENCH_DURATION; default 5, quick 1)
  --warmup S              autocannon warm-up of each system before its rounds (env BENCH_WARMUP; default 3, quick 1)
  --connections N         concurrent connections (env BENCH_CONNECTIONS; default 64)
  --body 100|16384|both   response body size (env BENCH_BODY; default both, quick 100)
  --systems a,b,c         ids or prefixes, e.g. nginx,waypost (env BENCH_SYSTEMS; default all)
  --tool autocannon|wrk|both  (env BENCH_TOOL; default both when wrk exists, quick: wrk if present)
  --runs N                interleaved rounds (A B C A B C …): each system is measured once per
                          round; median and spread are reported (env BENCH_RUNS; default 3)
  --rate N                paced open-loop load of N requests/s in total (tool "paced"): p50/p99 at
                          equal load instead of at saturation (env BENCH_RATE)
  --no-install            never apt-get install missing peers (env BENCH_NO_INSTALL=1)
  --no-pin                do not use taskset (env BENCH_NO_PIN=1)`;

export class OptionError extends Error {}

/** `--name value` from `argv`, else `fallback`: the flag reading of the smaller scripts (profile, syscalls, instructions). */
export function flagReader(argv: readonly string[]): (name: string, fallback: string) => string {
  return (name, fallback) => {
    const i = argv.indexOf(`--${name}`);
    return i === -1 ? fallback : argv[i + 1]!;
  };
}

/**
 * The flags of a script that takes only `valued` (`--name value`) and `switches` (`--name`):
 * anything else, or a valued flag without its value, is a usage error naming it.
 */
export function strictFlags(argv: readonly string[], valued: readonly string[], switches: readonly string[] = []): { values: Map<string, string>; switches: Set<string> } {
  const values = new Map<string, string>();
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]!;
    if (switches.includes(name)) seen.add(name);
    else if (valued.includes(name)) {
      const value = argv[++i];
      if (value === undefined) throw new OptionError(`${name}: missing value`);
      values.set(name, value);
    } else throw new OptionError(`unknown argument "${name}"`);
  }
  return { values, switches: seen };
}

/** A `--body` value: the two answer sizes the backends serve (backends.ts bodyPath). */
export function bodySize(name: string, text: string): 100 | 16384 {
  if (text !== '100' && text !== '16384') throw new OptionError(`${name}: 100 or 16384, not "${text}"`);
  return Number(text) as 100 | 16384;
}

export function positive(name: string, text: string, integer: boolean): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new OptionError(`${name}: expected a positive ${integer ? 'integer' : 'number'}, got "${text}"`);
  }
  return value;
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const flags = new Map<string, string>();
  const booleans = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new OptionError(`unexpected argument "${arg}"`);
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    if (['quick', 'no-install', 'no-pin'].includes(name)) {
      booleans.add(name);
      continue;
    }
    if (!['duration', 'warmup', 'connections', 'body', 'systems', 'tool', 'runs', 'rate'].includes(name)) {
      throw new OptionError(`unknown option --${name}`);
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new OptionError(`--${name}: missing value`);
    flags.set(name, value);
  }

  const quick = booleans.has('quick') || env.BENCH_QUICK === '1';
  const setting = (name: string, envName: string): string | undefined => flags.get(name) ?? env[envName];

  const duration = setting('duration', 'BENCH_DURATION');
  const warmup = setting('warmup', 'BENCH_WARMUP');
  const connections = setting('connections', 'BENCH_CONNECTIONS');
  const runs = setting('runs', 'BENCH_RUNS');
  const rate = setting('rate', 'BENCH_RATE');

  const body = setting('body', 'BENCH_BODY') ?? (quick ? '100' : 'both');
  const bodies = { '100': [100], '16384': [16384], both: [100, 16384] }[body];
  if (!bodies) throw new OptionError(`--body: expected 100, 16384 or both, got "${body}"`);

  const tool = setting('tool', 'BENCH_TOOL');
  let tools: BenchOptions['tools'] = 'auto';
  if (tool !== undefined) {
    const chosen = { autocannon: ['autocannon'], wrk: ['wrk'], both: ['autocannon', 'wrk'] }[tool] as LoadTool[] | undefined;
    if (!chosen) throw new OptionError(`--tool: expected autocannon, wrk or both, got "${tool}"`);
    tools = chosen;
  }

  const systems = setting('systems', 'BENCH_SYSTEMS');
  return {
    quick,
    durationSeconds: duration ? positive('--duration', duration, false) : quick ? 1 : 5,
    warmupSeconds: warmup !== undefined ? (warmup === '0' ? 0 : positive('--warmup', warmup, false)) : quick ? 1 : 3,
    connections: connections ? positive('--connections', connections, true) : 64,
    bodies,
    systems: systems ? systems.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
    tools,
    runs: runs ? positive('--runs', runs, true) : 3,
    rate: rate === undefined ? undefined : positive('--rate', rate, true),
    install: !booleans.has('no-install') && env.BENCH_NO_INSTALL !== '1',
    pin: !booleans.has('no-pin') && env.BENCH_NO_PIN !== '1',
  };
}

/**
 * The entry of a bench script: parse the arguments (a bad one prints its message and exits 2,
 * the usage-error code), then run and exit with its code (1 on a thrown error).
 */
export function runBench<O>(parse: (argv: string[]) => O, run: (options: O) => Promise<number>): void {
  let options: O;
  try {
    options = parse(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
  run(options).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
