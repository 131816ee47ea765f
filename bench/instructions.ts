/**
 * User-space instructions per proxied request, counted by valgrind's callgrind: the CPU measure
 * this machine's drift cannot move. CPU µs per request swings 2× within minutes here (a
 * log-on/log-off pair measured 38.8–71.4 µs for the same build in one run); an instruction count
 * repeats to about 0.2 % whatever else runs. It leaves out the kernel (syscalls, loopback TCP:
 * bench/syscalls.ts counts those, and Waypost makes the prototype's) and cache and branch
 * effects, so it ranks user-space work, which is where Waypost's gap to nginx is.
 *
 *   npx tsx bench/instructions.ts [--systems nginx-ka64,raw-proto,http-raw-upstream,waypost-raw,waypost-raw-log]
 *                                 [--requests 10000] [--warmup 50000] [--rounds 3] [--connections 8]
 *                                 [--body 100|16384] [--cli path/to/cli.js] [--base-cli path/to/cli.js] [--top 0] [--browser-headers] [--no-pin] [--no-install]
 *                                 [--keep-dumps DIR]
 *
 * Each system starts under `valgrind --tool=callgrind` with instrumentation off (start-up and
 * `--warmup` requests run at near full speed, so V8 optimizes the request path as it would),
 * then instrumentation goes on and 3,000 more requests re-translate the code. In each round the
 * counters are zeroed (`callgrind_control -z`), exactly `--requests` keep-alive requests are sent
 * (autocannon, `--connections` at a time) and the counters are dumped (`-d`): every process of
 * the system's tree is counted, helper threads included (V8's GC and compiler threads). nginx
 * runs as one process (`master_process off`): valgrind cannot reach a worker forked by a master.
 * Systems are measured one after another, each in back-to-back rounds: a count does not drift
 * with the machine, so there is nothing to interleave against, and a Node process left idle
 * while others ran had V8 drop and recompile code (rounds then differed by up to 50 %). The
 * table gives each system's median and range.
 * `--base-cli` adds every Waypost row again on another build (`<id>@base`): before/after of a
 * change, in instructions; `--cli` runs the plain rows on another build than this checkout's
 * (an experiment built to its own directory). `--top N` prints the N costliest functions of each system's last
 * round by self cost, JIT-compiled JavaScript named from V8's perf map (`--perf-basic-prof`).
 * `--keep-dumps DIR` copies each system's last callgrind dump and V8 perf map (with --top) to DIR,
 * as `<id>.callgrind` / `<id>.map`, for `callgrind_annotate --inclusive=yes --tree=calling`.
 * `--browser-headers` adds a browser's nine other request headers after Host (autocannon sends Connection first).
 *
 * Caddy is not offered: Go's runtime does not run under valgrind.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bodyPath, startBackends } from './lib/backends.js';
import { installMissingPeers } from './lib/install.js';
import { BROWSER_HEADERS, sendCounted } from './lib/load.js';
import { flagReader } from './lib/options.js';
import { choosePinning, hasCommand } from './lib/pin.js';
import { ProcessGroup, sleep } from './lib/processes.js';
import { median } from './lib/rounds.js';
import type { RunningSystem, SystemContext } from './lib/system.js';
import { ALL_SYSTEMS } from './lib/systems/index.js';
import { nginx } from './lib/systems/nginx.js';
import { ensureWaypostBuilt, startWaypost, type WaypostEngine } from './lib/systems/waypost.js';

const args = process.argv.slice(2);
const flag = flagReader(args);
const requests = Number(flag('requests', '10000'));
const warmup = Number(flag('warmup', '50000'));
const rounds = Number(flag('rounds', '3'));
const connections = Number(flag('connections', '8'));
const bodyBytes = Number(flag('body', '100'));
const top = Number(flag('top', '0'));
const keepDumps = flag('keep-dumps', '');
const browserHeaders = args.includes('--browser-headers');
const baseCli = args.includes('--base-cli') ? path.resolve(flag('base-cli', '')) : undefined;
/** The build the plain Waypost rows run (an experiment built elsewhere); default: this checkout's dist. */
const cli = args.includes('--cli') ? path.resolve(flag('cli', '')) : undefined;
const systemIds = flag('systems', 'nginx-ka64,raw-proto,http-raw-upstream,waypost-raw,waypost-raw-log')
  .split(',')
  .flatMap((id) => (baseCli !== undefined && id.startsWith('waypost') ? [id, `${id}@base`] : [id]));
/** Requests sent once instrumentation is on, before the first round: the code is translated again. */
const INSTRUMENTED_WARMUP = 3000;
/** Not offered: Go's runtime does not run under valgrind; `direct` has no process of its own. */
const UNSUPPORTED = new Set(['caddy', 'direct']);

type Starter = (context: SystemContext) => Promise<RunningSystem>;

function starterFor(id: string): Starter {
  const waypost = /^waypost-(raw|undici|http-proxy)(-log)?(@base)?$/.exec(id);
  const build = waypost?.[3] !== undefined ? baseCli : cli;
  if (waypost !== null && build !== undefined) {
    return (context) => startWaypost(context, { engine: waypost[1] as WaypostEngine, accessLog: waypost[2] ? 'stdout' : 'off', cli: build });
  }
  // nginx as one process: valgrind cannot reach a worker forked by a master.
  const definition = id === 'nginx-ka64' ? nginx(64, undefined, id, 'nginx keepalive 64', 0) : ALL_SYSTEMS.find((system) => system.id === id);
  if (definition === undefined || UNSUPPORTED.has(id)) {
    const known = ALL_SYSTEMS.map((system) => system.id).filter((known) => !UNSUPPORTED.has(known));
    throw new Error(`--systems: ${definition === undefined ? 'unknown' : 'not under valgrind'} ${id}; known: ${known.join(', ')}`);
  }
  return async (context) => {
    const reason = await definition.unavailable();
    if (reason !== undefined) throw new Error(`${id}: ${reason}`);
    return definition.start(context);
  };
}

/**
 * `amount` requests, `connections` at a time, one in flight per connection; returns how many
 * were answered. Up to 1 % may fail: nginx closes a client connection after 1,000 requests
 * (keepalive_requests), and a request sent as it closes fails.
 */
function drive(running: RunningSystem, amount: number): Promise<number> {
  return sendCounted({
    url: `http://127.0.0.1:${running.port}${bodyPath(bodyBytes)}`,
    hostHeader: running.hostHeader,
    amount,
    connections,
    maxFailures: amount / 100,
    timeoutSeconds: 60,
    ...(browserHeaders ? { headers: BROWSER_HEADERS } : {}),
  });
}

/** `pid` and every process below it (a system that forks its workers). */
function processTree(pid: number): number[] {
  const found = [pid];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return found;
  }
  for (const task of tasks) {
    const children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
    for (const child of children ? children.split(' ') : []) found.push(...processTree(Number(child)));
  }
  return found;
}

function callgrindControl(options: string[], pid: number): void {
  execFileSync('callgrind_control', [...options, String(pid)], { stdio: 'ignore', timeout: 60_000 });
}

/**
 * The newest dump of `pid` in `dir` and its instruction total. Found by the `pid:` line inside:
 * a forked child (nginx's worker) writes under its parent's file name.
 */
function lastDump(dir: string, pid: number): { file: string; instructions: number } {
  const dumps = readdirSync(dir)
    .filter((name) => /^callgrind\.\d+\.\d+$/.test(name))
    .map((name) => path.join(dir, name))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  for (const file of dumps) {
    const text = readFileSync(file, 'utf8');
    if (!new RegExp(`^pid: ${pid}$`, 'm').test(text)) continue;
    const summary = /^summary: (\d+)$/m.exec(text);
    if (summary === null) throw new Error(`${file} has no summary line`);
    return { file, instructions: Number(summary[1]) };
  }
  throw new Error(`no callgrind dump of ${pid} in ${dir} (it holds ${readdirSync(dir).join(' ')})`);
}

interface Measured {
  perRequest: number;
  /** perRequest less V8's background compiler threads (optimizing a function again is not the request path's cost). */
  withoutJit: number;
  /** The dump of the process that did most of the work, and its pid (for --top). */
  busiest: string;
  busiestPid: number;
}

async function measure(running: RunningSystem, dir: string): Promise<Measured> {
  const pids = processTree(running.pid!);
  for (const pid of pids) callgrindControl(['-z'], pid);
  const answered = await drive(running, requests);
  let total = 0;
  let jit = 0;
  let busiest = { file: '', instructions: -1, pid: 0 };
  for (const pid of pids) {
    callgrindControl(['-d'], pid);
    const dump = lastDump(dir, pid);
    total += dump.instructions;
    jit += backgroundJit(dump.file);
    if (dump.instructions > busiest.instructions) busiest = { ...dump, pid };
  }
  return { perRequest: total / answered, withoutJit: (total - jit) / answered, busiest: busiest.file, busiestPid: busiest.pid };
}

/** Roots of V8's concurrent compile jobs (TurboFan, Maglev): their inclusive cost is JIT work off the main thread. */
const JIT_ROOTS = [/OptimizingCompileDispatcher::CompileTask::RunInternal/, /MaglevConcurrentDispatcher::JobTask::Run/];

/** Instructions a dump spent in V8's background compiler (0 for programs without V8). */
function backgroundJit(file: string): number {
  const text = execFileSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', file], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  let jit = 0;
  for (const line of text.split('\n')) {
    if (!JIT_ROOTS.some((root) => root.test(line))) continue;
    const cost = /^\s*([\d,]+)/.exec(line);
    if (cost !== null) jit += Number(cost[1]!.replaceAll(',', ''));
  }
  return jit;
}

/** --keep-dumps: the round's busiest dump and the V8 perf map of its process, under the system's id. */
function keepDump(id: string, measured: Measured): void {
  mkdirSync(keepDumps, { recursive: true });
  copyFileSync(measured.busiest, path.join(keepDumps, `${id}.callgrind`));
  const map = `/tmp/perf-${measured.busiestPid}.map`;
  if (existsSync(map)) copyFileSync(map, path.join(keepDumps, `${id}.map`));
}

/**
 * callgrind_annotate's costliest functions (self cost), one line each. JIT-compiled JavaScript,
 * which callgrind knows only by address, is named from V8's perf map (`--perf-basic-prof`,
 * /tmp/perf-PID.map) and summed per function over its code objects (baseline, optimized).
 */
function topFunctions(file: string, pid: number, count: number): string[] {
  const text = execFileSync('callgrind_annotate', ['--threshold=100', file], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const jit = perfMap(pid);
  const costs = new Map<string, number>();
  let total = 0;
  for (const line of text.split('\n')) {
    const match = /^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.+?)(?: \[[^\]]*\])?$/.exec(line);
    if (match === null || line.includes('PROGRAM TOTALS')) continue;
    const cost = Number(match[1]!.replaceAll(',', ''));
    const address = /^\?\?\?:0x([0-9a-f]+)$/.exec(match[2]!);
    const name = address === null ? match[2]!.replace(/^\?\?\?:/, '') : (jit(Number.parseInt(address[1]!, 16)) ?? match[2]!);
    costs.set(name, (costs.get(name) ?? 0) + cost);
    total += cost;
  }
  return [...costs]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, cost]) => `  ${Math.round(cost / requests).toLocaleString('en').padStart(7)}  ${((cost / total) * 100).toFixed(1).padStart(4)}%  ${name.slice(0, 140)}`);
}

/** Address → JavaScript function name from /tmp/perf-PID.map (`start size name`, hex); nothing when absent. */
function perfMap(pid: number): (address: number) => string | undefined {
  const file = `/tmp/perf-${pid}.map`;
  if (!existsSync(file)) return () => undefined;
  const entries = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line))
    .filter((match) => match !== null)
    .map((match) => ({ start: Number.parseInt(match[1]!, 16), size: Number.parseInt(match[2]!, 16), name: shortName(match[3]!) }));
  return (address) => entries.findLast((entry) => address >= entry.start && address < entry.start + entry.size)?.name;
}

/** `JS:*requestHead file:///…/dist/proxy/engines/raw-request-head.js:6:28` → `JS requestHead dist/proxy/engines/raw-request-head.js:6`. */
function shortName(name: string): string {
  return name
    .replace(/^(\w+):([*~^+-]?)/, 'JS$2 ')
    .replace(/file:\/\/\S*?\/(dist|src|node_modules|bench)\//, '$1/')
    .replace(/:(\d+):\d+$/, ':$1');
}

function report(results: Map<string, Measured[]>): string {
  const ids = [...results.keys()];
  const perRequest = (id: string): number => median(results.get(id)!.map((m) => m.perRequest));
  const withoutJit = (id: string): number => median(results.get(id)!.map((m) => m.withoutJit));
  const reference = results.has('nginx-ka64') ? 'nginx-ka64' : results.has('raw-proto') ? 'raw-proto' : undefined;
  const lines = [
    `| system | instructions/request (median) | range over rounds | × ${reference ?? '—'} | without background JIT (median) | range |`,
    '|---|---:|---:|---:|---:|---:|',
  ];
  const range = (values: number[]): string => `${Math.round(Math.min(...values)).toLocaleString('en')}–${Math.round(Math.max(...values)).toLocaleString('en')}`;
  for (const id of ids) {
    const rounds = results.get(id)!;
    const ratio = reference === undefined ? '—' : (perRequest(id) / perRequest(reference)).toFixed(2);
    lines.push(
      `| ${id} | ${Math.round(perRequest(id)).toLocaleString('en')} | ${range(rounds.map((m) => m.perRequest))} | ${ratio} | ${Math.round(withoutJit(id)).toLocaleString('en')} | ${range(rounds.map((m) => m.withoutJit))} |`,
    );
  }
  for (const id of ids.filter((id) => results.has(`${id}@base`))) {
    const base = results.get(`${id}@base`)!;
    const ratios = results.get(id)!.map((m, round) => m.perRequest / base[round]!.perRequest);
    const ratiosWithoutJit = results.get(id)!.map((m, round) => m.withoutJit / base[round]!.withoutJit);
    lines.push(
      '',
      `${id} / ${id}@base: ${median(ratios).toFixed(4)} (rounds: ${ratios.map((r) => r.toFixed(4)).join(' ')})`,
      `  without background JIT: ${median(ratiosWithoutJit).toFixed(4)} (rounds: ${ratiosWithoutJit.map((r) => r.toFixed(4)).join(' ')})`,
    );
  }
  if (top > 0) {
    for (const id of ids) {
      const last = results.get(id)!.at(-1)!;
      lines.push('', `${id}: costliest functions by self cost, last round (instructions per request, share)`, ...topFunctions(last.busiest, last.busiestPid, top));
    }
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  installMissingPeers(!args.includes('--no-install') && process.env.BENCH_NO_INSTALL !== '1', ['valgrind', 'nginx', 'haproxy']);
  if (!hasCommand('callgrind_control')) throw new Error('valgrind not found (apt-get install -y valgrind)');
  if (systemIds.some((id) => id.startsWith('waypost'))) {
    const reason = await ensureWaypostBuilt();
    if (reason) throw new Error(reason);
  }
  if (baseCli !== undefined && !existsSync(baseCli)) throw new Error(`--base-cli: ${baseCli} not found`);
  if (cli !== undefined && !existsSync(cli)) throw new Error(`--cli: ${cli} not found`);
  const starters = new Map(systemIds.map((id) => [id, starterFor(id)]));
  const group = new ProcessGroup();
  const pinning = choosePinning(!args.includes('--no-pin'));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'waypost-instructions-'));
  console.log(
    `instructions per request · callgrind · ${requests} requests × ${rounds} round(s) after ${warmup} warm-up, autocannon -c ${connections}, ${bodyBytes} B${browserHeaders ? ' · browser headers' : ''} · ${pinning.description}`,
  );
  const running = new Map<string, RunningSystem>();
  try {
    const backends = await startBackends(group, pinning);
    // Everything started from here runs under callgrind; the backends and the load do not.
    group.wrapper = ['valgrind', '--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${path.join(dir, 'callgrind.%p')}`, '--quiet'];
    // V8 names its JIT code in /tmp/perf-PID.map for --top (Node systems; others ignore the variable).
    if (top > 0) process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --perf-basic-prof`.trim();
    const results = new Map<string, Measured[]>(systemIds.map((id) => [id, []]));
    for (const [id, start] of starters) {
      const system = await start({ backends, group, pinning, tmpDir: mkdtempSync(path.join(dir, `${id}-`)) });
      running.set(id, system);
      await drive(system, warmup).catch((error: Error) => {
        throw new Error(`${id}: ${error.message}`);
      });
      for (const pid of processTree(system.pid!)) callgrindControl(['-i', 'on'], pid);
      await sleep(100);
      await drive(system, INSTRUMENTED_WARMUP);
      for (let round = 1; round <= rounds; round++) {
        const measured = await measure(system, dir);
        results.get(id)!.push(measured);
        console.log(
          `${id} round ${round}: ${Math.round(measured.perRequest).toLocaleString('en')} instructions/request (${Math.round(measured.withoutJit).toLocaleString('en')} without background JIT)`,
        );
        if (keepDumps !== '') keepDump(id, measured);
      }
      await system.stop();
    }
    console.log(`\n${report(results)}`);
  } finally {
    await group.stopAll();
    rmSync(dir, { recursive: true, force: true });
    for (const system of running.values()) rmSync(`/tmp/perf-${system.pid}.map`, { force: true });
  }
}

await main();
process.exit(0);
