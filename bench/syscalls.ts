/**
 * Syscalls per request, by type: a noise-free measure of what one proxied request costs the
 * kernel (the CPU figure moves 2× within minutes here; these counts do not).
 *
 *   npx tsx bench/syscalls.ts [--systems nginx-ka64,raw-proto,tcp-splice,handle-splice,waypost-raw,waypost-raw-log,waypost-undici]
 *                             [--requests 20000] [--connections 8] [--warmup 20000] [--rounds 1]
 *                             [--body 100|16384] [--post BYTES]
 *                             [--tool perf|strace|alloc] [--cli path/to/cli.js] [--base-cli path/to/cli.js] [--no-pin]
 *
 * Each system starts once (the bench's own start: backends in one child, Waypost from its CLI
 * with stdout into /dev/null, the prototype as a plain-JavaScript child), is warmed up, then a
 * counter attaches to the proxy process (all its threads) while autocannon sends exactly
 * `--requests` keep-alive requests (`--body` B answers; `--post N`: POSTs with an N-byte body) over
 * `--connections`. Counts are divided by
 * the requests. Rounds interleave the systems (A B C C B A …); the table shows each system's
 * median per type, plus CPU µs/request over the same window (noisy: a hint, not the measure).
 *
 * `--tool perf` (default when `perf` exists) counts with kernel tracepoints (`perf stat`): the
 * proxy runs at nearly full speed, so event batching is as under real load. `--tool strace`
 * (`strace -f -c`) lists every type but slows the proxy several times, so each epoll_wait
 * finds more events ready: read/write counts still compare, epoll counts less so.
 * `--tool alloc` counts bytes allocated on the JS heap per request instead: the systems start with
 * lib/alloc-sampler.mjs preloaded (V8's sampling heap profiler, 256 B interval, collected objects
 * kept), which also prints the functions that allocate most. Sampling slows the proxy: its CPU
 * figures then mean nothing.
 * `--cli` measures another build's dist/cli.js instead of this worktree's; `--base-cli` adds, for
 * each Waypost system, the same system on that build (`<id>@base`), measured in the same rounds:
 * before/after of a code change (copy dist/ and package.json into e.g. .base/ before the change).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bodyPath, startBackends } from './lib/backends.js';
import { sendCounted } from './lib/load.js';
import { flagReader } from './lib/options.js';
import { choosePinning, hasCommand } from './lib/pin.js';
import { ProcessGroup, sleep } from './lib/processes.js';
import { median } from './lib/rounds.js';
import type { RunningSystem, SystemContext } from './lib/system.js';
import { nginx } from './lib/systems/nginx.js';
import { rawPrototype, wasmPrototype } from './lib/systems/raw-proto.js';
import { handleSplice, tcpSplice } from './lib/systems/splice.js';
import { ensureWaypostBuilt, startWaypost, type WaypostEngine } from './lib/systems/waypost.js';

/** /proc/PID/stat counts CPU time in clock ticks (100 per second on Linux). */
const CLOCK_TICKS = 100;

/** The syscalls a proxy's request path makes; anything else is summed as `other`. */
const TYPES = ['read', 'readv', 'recvfrom', 'write', 'writev', 'sendto', 'epoll_wait', 'epoll_pwait', 'epoll_ctl', 'futex', 'mprotect', 'madvise', 'mmap', 'munmap', 'getpid', 'ioctl'] as const;

const args = process.argv.slice(2);
const flag = flagReader(args);
const requests = Number(flag('requests', '20000'));
const connections = Number(flag('connections', '8'));
const warmup = Number(flag('warmup', '20000'));
const rounds = Number(flag('rounds', '1'));
const bodyBytes = Number(flag('body', '100'));
const postBytes = Number(flag('post', '0'));
const tool = flag('tool', hasCommand('perf') ? 'perf' : 'strace') as 'perf' | 'strace' | 'alloc';
const SAMPLER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'lib', 'alloc-sampler.mjs');
const cli = args.includes('--cli') ? path.resolve(flag('cli', '')) : undefined;
const baseCli = args.includes('--base-cli') ? path.resolve(flag('base-cli', '')) : undefined;
const systemIds = flag('systems', 'raw-proto,waypost-raw,waypost-raw-log,waypost-undici')
  .split(',')
  .flatMap((id) => (baseCli !== undefined && id.startsWith('waypost') ? [id, `${id}@base`] : [id]));

interface Measured {
  /** By syscall name (and `total`); with `--tool alloc`: `allocated` bytes. */
  counts: Map<string, number>;
  /** `--tool alloc`: the functions that allocated most, with their bytes. */
  top?: { where: string; bytes: number }[];
  /** CPU µs per request: user (JS, V8, libuv) and system (the kernel: syscalls, loopback TCP). */
  userMicros: number;
  sysMicros: number;
}

type Starter = (context: SystemContext) => Promise<RunningSystem>;
/** Node peers that run as one process (the counter attaches to one pid). */
const SINGLE_PROCESS_PEERS = [rawPrototype, wasmPrototype, tcpSplice, handleSplice];

function starterFor(id: string): Starter {
  // nginx as one process: the counter follows the process it attaches to, not a forked worker.
  if (id === 'nginx-ka64') return nginx(64, undefined, id, 'nginx keepalive 64', 0).start;
  const peer = SINGLE_PROCESS_PEERS.find((system) => system.id === id);
  if (peer !== undefined) return (context) => peer.start(context);
  const match = /^waypost-(raw|undici|http-proxy)(-log)?(@base)?$/.exec(id);
  if (match === null) {
    const known = ['nginx-ka64', ...SINGLE_PROCESS_PEERS.map((system) => system.id), 'waypost-<raw|undici|http-proxy>[-log]'];
    throw new Error(`--systems: unknown ${id}; known: ${known.join(', ')}`);
  }
  const engine = match[1] as WaypostEngine;
  const build = match[3] ? baseCli : cli;
  return (context) => startWaypost(context, { engine, accessLog: match[2] ? 'stdout' : 'off', ...(build ? { cli: build } : {}) });
}

/** Exactly `amount` requests, `connections` at a time, one in flight per connection; no failure tolerated. */
async function drive(running: RunningSystem, amount: number): Promise<void> {
  await sendCounted({
    url: `http://127.0.0.1:${running.port}${bodyPath(bodyBytes)}`,
    hostHeader: running.hostHeader,
    amount,
    connections,
    body: postBytes > 0 ? Buffer.alloc(postBytes, 'p') : undefined,
  });
}

/** Starts the counter on `pid`; the returned function stops it and gives the counts by syscall name. */
async function attach(pid: number, dir: string): Promise<() => Promise<Pick<Measured, 'counts' | 'top'>>> {
  if (tool === 'alloc') return startSampling(pid, dir);
  const out = path.join(dir, `${tool}-${pid}-${Date.now()}.txt`);
  const command =
    tool === 'perf'
      ? ['perf', ['stat', '-x', ',', '-o', out, '-p', String(pid), '-e', ['raw_syscalls:sys_enter', 'context-switches', ...TYPES.map((t) => `syscalls:sys_enter_${t}`)].join(',')]]
      : ['strace', ['-f', '-c', '-o', out, '-p', String(pid)]];
  const counter = spawn(command[0] as string, command[1] as string[], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  counter.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => counter.once('exit', () => resolve()));
  // Both need a moment to attach to every thread.
  await sleep(tool === 'perf' ? 300 : 1000);
  return async () => {
    counter.kill('SIGINT');
    await exited;
    const text = readFileSync(out, 'utf8');
    const counts = tool === 'perf' ? parsePerf(text) : parseStrace(text);
    if (counts.size === 0) throw new Error(`${tool} counted nothing: ${stderr.slice(0, 300)}`);
    return { counts };
  };
}

/** SIGUSR2 starts the preloaded sampler (lib/alloc-sampler.mjs), the next one stops it and it writes its file. */
async function startSampling(pid: number, dir: string): Promise<() => Promise<Pick<Measured, 'counts' | 'top'>>> {
  const out = path.join(dir, `alloc-${pid}.json`);
  rmSync(out, { force: true });
  process.kill(pid, 'SIGUSR2');
  await sleep(200);
  return async () => {
    process.kill(pid, 'SIGUSR2');
    for (let waited = 0; !existsSync(out); waited += 50) {
      if (waited > 10_000) throw new Error(`no allocation profile from ${pid} (was lib/alloc-sampler.mjs preloaded?)`);
      await sleep(50);
    }
    await sleep(50);
    const { bytes, top } = JSON.parse(readFileSync(out, 'utf8')) as { bytes: number; top: { where: string; bytes: number }[] };
    return { counts: new Map([['allocated', bytes]]), top };
  };
}

/** `perf stat -x,` lines: count,unit,event,… (the total is raw_syscalls:sys_enter). */
function parsePerf(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [count, , event] = line.split(',');
    if (event === undefined || !/^\d+$/.test(count ?? '')) continue;
    counts.set(event === 'raw_syscalls:sys_enter' ? 'total' : event.replace('syscalls:sys_enter_', ''), Number(count));
  }
  return counts;
}

/** `strace -c` table rows: % time, seconds, usecs/call, calls, [errors,] syscall. */
function parseStrace(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const name = fields.at(-1)!;
    if (fields.length < 5 || !/^\d/.test(fields[0]!) || name === 'total') continue;
    counts.set(name, Number(fields[3]));
  }
  counts.set('total', [...counts.values()].reduce((sum, n) => sum + n, 0));
  return counts;
}

async function measure(running: RunningSystem, dir: string): Promise<Measured> {
  const pid = running.pid!;
  const stop = await attach(pid, dir);
  const before = cpuTimes(pid);
  await drive(running, requests);
  const after = cpuTimes(pid);
  const { counts, top } = await stop();
  const perRequest = (seconds: number): number => (seconds * 1e6) / requests;
  return { counts, ...(top ? { top } : {}), userMicros: perRequest(after.user - before.user), sysMicros: perRequest(after.sys - before.sys) };
}

/** User and system CPU seconds of `pid` (every thread) from /proc/PID/stat. */
function cpuTimes(pid: number): { user: number; sys: number } {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / CLOCK_TICKS, sys: Number(fields[12]) / CLOCK_TICKS };
}

function table(results: Map<string, Measured[]>): string {
  const ids = [...results.keys()];
  if (tool === 'alloc') return allocTable(results);
  const perRequest = (id: string, type: string): number => median(results.get(id)!.map((m) => (m.counts.get(type) ?? 0) / requests));
  const shown = ['total', ...TYPES.filter((t) => ids.some((id) => perRequest(id, t) >= 0.005))];
  const other = (id: string): number => median(results.get(id)!.map((m) => ((m.counts.get('total') ?? 0) - TYPES.reduce((s, t) => s + (m.counts.get(t) ?? 0), 0)) / requests));
  const lines = [`| per request | ${ids.join(' | ')} |`, `|---|${ids.map(() => '---:').join('|')}|`];
  for (const type of shown) lines.push(`| ${type} | ${ids.map((id) => perRequest(id, type).toFixed(2)).join(' | ')} |`);
  if (tool === 'perf') {
    lines.push(`| other | ${ids.map((id) => other(id).toFixed(2)).join(' | ')} |`);
    // Not a syscall: how often the proxy's threads were switched out (thread-pool hops, preemption).
    lines.push(`| (context switches) | ${ids.map((id) => perRequest(id, 'context-switches').toFixed(2)).join(' | ')} |`);
  }
  const cpu = (id: string, of: (m: Measured) => number): string => {
    const values = results.get(id)!.map(of);
    return values.length === 1 ? values[0]!.toFixed(0) : `${median(values).toFixed(0)} (${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)})`;
  };
  lines.push(`| CPU µs/req user (noisy) | ${ids.map((id) => cpu(id, (m) => m.userMicros)).join(' | ')} |`);
  lines.push(`| CPU µs/req sys (noisy) | ${ids.map((id) => cpu(id, (m) => m.sysMicros)).join(' | ')} |`);
  return [lines.join('\n'), ...baseRatios(results)].join('\n\n');
}

/**
 * Each system against its `@base` twin, measured right after it in every round: the ratio of
 * their CPU per request, round by round, cancels most of the machine's drift.
 */
function baseRatios(results: Map<string, Measured[]>): string[] {
  const total = (m: Measured): number => m.userMicros + m.sysMicros;
  return [...results.keys()]
    .filter((id) => results.has(`${id}@base`))
    .map((id) => {
      const mine = results.get(id)!;
      const base = results.get(`${id}@base`)!;
      const ratios = mine.map((m, round) => total(m) / total(base[round]!));
      const shown = ratios.map((r) => r.toFixed(2)).join(' ');
      return `${id} / ${id}@base, CPU µs per request: median ${median(ratios).toFixed(3)} (rounds: ${shown})`;
    });
}

/** Bytes allocated per request by system, then each system's heaviest allocators (last round). */
function allocTable(results: Map<string, Measured[]>): string {
  const ids = [...results.keys()];
  const bytes = (id: string): number[] => results.get(id)!.map((m) => (m.counts.get('allocated') ?? 0) / requests);
  const lines = [`| per request | ${ids.join(' | ')} |`, `|---|${ids.map(() => '---:').join('|')}|`];
  lines.push(`| JS heap bytes allocated | ${ids.map((id) => `${median(bytes(id)).toFixed(0)}${bytes(id).length > 1 ? ` (${Math.min(...bytes(id)).toFixed(0)}–${Math.max(...bytes(id)).toFixed(0)})` : ''}`).join(' | ')} |`);
  for (const id of ids) {
    lines.push('', `${id}: heaviest allocators, bytes per request`);
    for (const { where, bytes: size } of results.get(id)!.at(-1)!.top ?? []) lines.push(`  ${(size / requests).toFixed(0).padStart(6)}  ${where}`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  if (tool !== 'alloc' && !hasCommand(tool)) throw new Error(`${tool} not found (apt-get install -y ${tool === 'perf' ? 'linux-perf' : 'strace'})`);
  if (systemIds.some((id) => id.startsWith('waypost')) && cli === undefined) {
    const reason = await ensureWaypostBuilt();
    if (reason) throw new Error(reason);
  }
  const group = new ProcessGroup();
  const pinning = choosePinning(!args.includes('--no-pin'));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'waypost-syscalls-'));
  console.log(`syscalls per request · ${tool} · ${requests} requests × ${rounds} round(s), autocannon -c ${connections}, ${bodyBytes} B${postBytes > 0 ? `, POST ${postBytes} B` : ''} · ${pinning.description}`);
  try {
    const backends = await startBackends(group, pinning);
    // Only the systems under test get the sampler (the backends were started without it).
    if (tool === 'alloc') {
      process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import=${SAMPLER}`.trim();
      process.env.ALLOC_SAMPLER_DIR = dir;
    }
    const running = new Map<string, RunningSystem>();
    for (const id of systemIds) {
      const tmpDir = mkdtempSync(path.join(dir, `${id}-`));
      const system = await starterFor(id)({ backends, group, pinning, tmpDir });
      await drive(system, warmup);
      running.set(id, system);
    }
    const results = new Map<string, Measured[]>(systemIds.map((id) => [id, []]));
    for (let round = 0; round < rounds; round++) {
      // A B C, then C B A: whatever favours going first or last (and a twin's neighbour) evens out.
      for (const id of round % 2 === 0 ? systemIds : [...systemIds].reverse()) {
        const measured = await measure(running.get(id)!, dir);
        results.get(id)!.push(measured);
        console.log(
          `round ${round + 1} ${id}: ${tool === 'alloc' ? `${((measured.counts.get('allocated') ?? 0) / requests).toFixed(0)} B allocated/req` : `${((measured.counts.get('total') ?? 0) / requests).toFixed(2)} syscalls/req`}, CPU µs/req user ${measured.userMicros.toFixed(0)} sys ${measured.sysMicros.toFixed(0)}`,
        );
      }
    }
    console.log(`\n${table(results)}`);
  } finally {
    await group.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
