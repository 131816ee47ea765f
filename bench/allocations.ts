/**
 * What Waypost allocates per proxied request (issue 21: scavenges cost 20–30 ms per second of
 * load). Noise-free figures: the machine's speed does not change how many bytes a request
 * allocates, nor how many scavenges a fixed semi-space needs for a fixed number of requests.
 *
 * Each build (this worktree's dist/, and with --main the main branch's) runs as the bench runs
 * Waypost (engine raw, access log to /dev/null, two keep-alive backends registered through the
 * admin API), with a fixed semi-space (`--min/max-semi-space-size`) and a preload
 * (children/alloc-probe.mjs) that counts from a mark to a mark. The load is wrk -c64 on 100 B (`--body 16384`: 16 KiB)
 * (as bench/run.ts) for `--seconds`, or with `--tool autocannon` a fixed `--requests` count
 * (autocannon adds `Connection: keep-alive`, which the proxy strips: a little more work).
 * After a warm-up (JIT):
 *   1. `--rounds` interleaved runs: scavenges and mark-compacts per 100k requests, their time,
 *      and CPU µs per request (informational; compare CPU with bench/h1-vs-main.ts);
 *   2. one run under V8's sampling heap profiler, collected objects included: bytes per
 *      request and the top allocation sites, mapped to src/ lines.
 *
 *   npx tsx bench/allocations.ts [--main] [--main-cli PATH] [--cli LABEL=PATH …] [--tool wrk|autocannon] [--rounds 2]
 *     [--seconds 5] [--profile-seconds 2] [--requests 100000] [--profile-requests 20000]
 *     [--interval 4096] [--semi 16] [--connections 64] [--body 100|16384] [--top 20]
 *     [--engine raw] [--access-log stdout|off] [--no-inlining] [--save DIR] [--no-pin]
 *
 * V8's profile names the function a site was inlined into; --no-inlining (V8
 * --no-turbo-inlining) names each function itself, at the price of figures a little higher.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { bodyPath, startBackends } from './lib/backends.js';
import { summarizeProfile, type AllocationSite, type SamplingHeapProfile } from './lib/heap-profile.js';
import { bodySize, OptionError, positive, runBench } from './lib/options.js';
import { runWrk, wrkAvailable } from './lib/load.js';
import { choosePinning, type Pinning } from './lib/pin.js';
import { ProcessGroup, REPO_ROOT, sleep } from './lib/processes.js';
import { median, spreadPercent } from './lib/rounds.js';
import type { RunningSystem } from './lib/system.js';
import { ensureWaypostBuilt, startWaypost, type WaypostEngine } from './lib/systems/waypost.js';

const PROBE = path.join(REPO_ROOT, 'bench', 'lib', 'children', 'alloc-probe.mjs');
const DEFAULT_MAIN_CLI = path.resolve(REPO_ROOT, '..', 'main', 'dist', 'cli.js');
const WARM_UP_REQUESTS = 30_000;
const WARM_UP_SECONDS = 3;

interface Options {
  mainCli: string | undefined;
  /** More builds to compare: `--cli LABEL=PATH` (repeatable). */
  otherClis: { label: string; cli: string }[];
  /** wrk (as bench/run.ts drives Waypost: only a Host header) for seconds, or autocannon (adds `Connection: keep-alive`) for a count. */
  tool: 'wrk' | 'autocannon';
  seconds: number;
  profileSeconds: number;
  requests: number;
  rounds: number;
  profileRequests: number;
  interval: number;
  /** Semi-space sizes (MiB) to run each build with; each size is one more contender. */
  semiMiB: number[];
  /** Only `--max-semi-space-size` (V8 grows the new space up to it), as a CLI flag would set it; default both min and max (a fixed size). */
  maxSemiOnly: boolean;
  connections: number;
  /** Answer size: 100 B, or 16 KiB (bodies move as Buffers, whose backing stores the GC counts too). */
  body: 100 | 16384;
  top: number;
  engine: WaypostEngine;
  accessLog: 'stdout' | 'off';
  pin: boolean;
  /** V8 without inlining: each site is its own function (allocations differ a little: less escape analysis). */
  noInlining: boolean;
  /** Keep each build's profile here (`<label>.heapprofile`: Chrome DevTools opens it). */
  saveDir: string | undefined;
}

function parse(argv: string[]): Options {
  const options: Options = {
    mainCli: undefined,
    otherClis: [],
    tool: wrkAvailable() ? 'wrk' : 'autocannon',
    seconds: 5,
    profileSeconds: 2,
    requests: 100_000,
    rounds: 2,
    profileRequests: 20_000,
    interval: 4096,
    semiMiB: [16],
    maxSemiOnly: false,
    connections: 64,
    body: 100,
    top: 20,
    engine: 'raw',
    accessLog: 'stdout',
    pin: true,
    noInlining: false,
    saveDir: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]!;
    if (name === '--no-pin') options.pin = false;
    else if (name === '--main') options.mainCli ??= DEFAULT_MAIN_CLI;
    else if (name === '--no-inlining') options.noInlining = true;
    else if (name === '--max-semi-only') options.maxSemiOnly = true;
    else {
      const value = argv[++i];
      if (value === undefined) throw new OptionError(`${name}: missing value (see the header of bench/allocations.ts)`);
      if (name === '--main-cli') options.mainCli = path.resolve(value);
      else if (name === '--cli') {
        const equals = value.indexOf('=');
        if (equals <= 0) throw new OptionError(`--cli: LABEL=PATH, not "${value}"`);
        options.otherClis.push({ label: value.slice(0, equals), cli: path.resolve(value.slice(equals + 1)) });
      }
      else if (name === '--save') options.saveDir = path.resolve(value);
      else if (name === '--tool') {
        if (value !== 'wrk' && value !== 'autocannon') throw new OptionError(`--tool: wrk or autocannon, not "${value}"`);
        options.tool = value;
      } else if (name === '--seconds') options.seconds = positive(name, value, true);
      else if (name === '--profile-seconds') options.profileSeconds = positive(name, value, true);
      else if (name === '--requests') options.requests = positive(name, value, true);
      else if (name === '--rounds') options.rounds = positive(name, value, true);
      else if (name === '--profile-requests') options.profileRequests = positive(name, value, true);
      else if (name === '--interval') options.interval = positive(name, value, true);
      else if (name === '--semi') options.semiMiB = value.split(',').map((size) => positive(name, size, true));
      else if (name === '--connections') options.connections = positive(name, value, true);
      else if (name === '--top') options.top = positive(name, value, true);
      else if (name === '--body') options.body = bodySize(name, value);
      else if (name === '--engine') {
        if (!['raw', 'undici', 'http-proxy'].includes(value)) throw new OptionError(`--engine: raw, undici or http-proxy, not "${value}"`);
        options.engine = value as WaypostEngine;
      } else if (name === '--access-log') {
        if (value !== 'stdout' && value !== 'off') throw new OptionError(`--access-log: stdout or off, not "${value}"`);
        options.accessLog = value;
      } else throw new OptionError(`unknown argument "${name}"`);
    }
  }
  return options;
}

interface Build {
  label: string;
  semiMiB: number;
  cli: string | undefined;
  distDir: string;
  probeDir: string;
  running?: RunningSystem;
  rounds: RoundResult[];
  profile?: { bytesPerRequest: number; requests: number; bySelf: AllocationSite[]; byWaypostFrame: AllocationSite[] };
}

interface ProbeResult {
  scavenges: number;
  scavengeMs: number;
  majors: number;
  majorMs: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  wallMs: number;
  /** At the end of the run, and the process's peak so far. */
  rssMiB: number;
  peakRssMiB: number;
}

interface RoundResult extends ProbeResult {
  requests: number;
}

/** Runs a probe command in the proxy (SIGUSR2) and waits for its acknowledgement. */
async function probe(build: Build, command: 'start' | 'start-profile' | 'stop'): Promise<void> {
  const ack = path.join(build.probeDir, 'ack');
  if (existsSync(ack)) unlinkSync(ack);
  writeFileSync(path.join(build.probeDir, 'command'), command);
  process.kill(build.running!.pid!, 'SIGUSR2');
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (existsSync(ack)) {
      const answer = readFileSync(ack, 'utf8');
      if (answer === command) return;
      if (answer.startsWith('error')) throw new Error(`probe ${command}: ${answer}`);
    }
    await sleep(20);
  }
  throw new Error(`probe ${command}: no answer from ${build.label} within 60 s`);
}

type Phase = 'warm-up' | 'round' | 'profile';

/** Load for one phase: wrk for a duration, or autocannon for a number of requests. Returns the requests answered. */
async function drive(build: Build, phase: Phase, options: Options, group: ProcessGroup, pinning: Pinning): Promise<number> {
  const running = build.running!;
  const url = `http://127.0.0.1:${running.port}${bodyPath(options.body)}`;
  if (options.tool === 'wrk') {
    const seconds = phase === 'warm-up' ? WARM_UP_SECONDS : phase === 'round' ? options.seconds : options.profileSeconds;
    const result = await runWrk({ url, hostHeader: running.hostHeader, connections: options.connections, durationSeconds: seconds }, group, pinning);
    if (result.errors + result.non2xx > 0) throw new Error(`${build.label}: ${result.errors} errors, ${result.non2xx} non-2xx`);
    return result.requests;
  }
  const amount = phase === 'warm-up' ? WARM_UP_REQUESTS : phase === 'round' ? options.requests : options.profileRequests;
  const result = await autocannon({ url, connections: options.connections, amount, pipelining: 1, headers: running.hostHeader ? { host: running.hostHeader } : {} });
  if (result.errors + result.timeouts + result.non2xx > 0) {
    throw new Error(`${build.label}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx`);
  }
  return result.requests.total;
}

async function measureRound(build: Build, options: Options, group: ProcessGroup, pinning: Pinning): Promise<void> {
  await probe(build, 'start');
  const requests = await drive(build, 'round', options, group, pinning);
  await probe(build, 'stop');
  const result = JSON.parse(readFileSync(path.join(build.probeDir, 'result.json'), 'utf8')) as ProbeResult;
  build.rounds.push({ ...result, requests });
}

async function measureProfile(build: Build, options: Options, group: ProcessGroup, pinning: Pinning): Promise<void> {
  await probe(build, 'start-profile');
  const requests = await drive(build, 'profile', options, group, pinning);
  await probe(build, 'stop');
  const profileFile = path.join(build.probeDir, 'profile.json');
  if (options.saveDir !== undefined) {
    mkdirSync(options.saveDir, { recursive: true });
    copyFileSync(profileFile, path.join(options.saveDir, `${build.label.split(' ')[0]!.replace(/[^\w.-]/g, '_')}.heapprofile`));
  }
  const profile = JSON.parse(readFileSync(profileFile, 'utf8')) as SamplingHeapProfile;
  const summary = summarizeProfile(profile, build.distDir);
  build.profile = { bytesPerRequest: summary.totalBytes / requests, requests, bySelf: summary.bySelf, byWaypostFrame: summary.byWaypostFrame };
}

const per100k = (value: number, requests: number): number => (value / requests) * 100_000;

function figure(values: number[], digits: number): string {
  const spread = values.length > 1 ? ` (spread ${spreadPercent(values).toFixed(0)} %)` : '';
  return `${median(values).toFixed(digits)}${spread}`;
}

function report(build: Build, options: Options): string {
  const lines = [`## ${build.label}`, ''];
  const rounds = build.rounds;
  lines.push(
    `- scavenges per 100k requests: ${figure(rounds.map((r) => per100k(r.scavenges, r.requests)), 1)}; scavenge ms per 100k: ${figure(rounds.map((r) => per100k(r.scavengeMs, r.requests)), 1)}`,
    `- major GCs per 100k requests: ${figure(rounds.map((r) => per100k(r.majors, r.requests)), 1)}; major GC ms per 100k: ${figure(rounds.map((r) => per100k(r.majorMs, r.requests)), 1)}`,
    `- scavenge ms per second of load: ${figure(rounds.map((r) => (r.scavengeMs / r.wallMs) * 1000), 1)}; major GC ms per second: ${figure(rounds.map((r) => (r.majorMs / r.wallMs) * 1000), 1)}`,
    `- CPU µs per request (${options.tool} load; informational): ${figure(rounds.map((r) => (r.cpuUserUs + r.cpuSystemUs) / r.requests), 1)}`,
    `- RSS after a run: ${figure(rounds.map((r) => r.rssMiB), 0)} MiB; peak RSS: ${Math.max(...rounds.map((r) => r.peakRssMiB)).toFixed(0)} MiB`,
  );
  const profile = build.profile;
  if (profile !== undefined) {
    const row = (site: AllocationSite): string => `| ${(site.bytes / profile.requests).toFixed(0)} | ${site.site.replaceAll('|', '\\|')} |`;
    lines.push(
      `- bytes allocated per request (sampling heap profile, ${profile.requests} requests, interval ${options.interval} B): **${profile.bytesPerRequest.toFixed(0)}**`,
      '',
      'Top allocation sites (self bytes per request; `←` the nearest Waypost frame on the stack):',
      '',
      '| B/req | site |',
      '|---:|---|',
      ...profile.bySelf.slice(0, options.top).map(row),
      '',
      'By nearest Waypost frame (what Waypost code caused, node:http and libraries included below it):',
      '',
      '| B/req | Waypost frame |',
      '|---:|---|',
      ...profile.byWaypostFrame.slice(0, options.top).map(row),
    );
  }
  return lines.join('\n');
}

async function main(options: Options): Promise<number> {
  const pinning = choosePinning(options.pin);
  const builds: Build[] = [];
  const tmpDirs: string[] = [];
  const newBuild = (label: string, cli: string | undefined): Build[] =>
    options.semiMiB.map((semiMiB) => {
      const probeDir = mkdtempSync(path.join(os.tmpdir(), 'waypost-alloc-'));
      tmpDirs.push(probeDir);
      const distDir = path.dirname(cli ?? path.join(REPO_ROOT, 'dist', 'cli.js'));
      return { label: options.semiMiB.length > 1 ? `${label}, semi-space ${semiMiB} MiB` : label, semiMiB, cli, distDir, probeDir, rounds: [] };
    });
  const reason = await ensureWaypostBuilt();
  if (reason !== undefined) throw new Error(reason);
  builds.push(...newBuild('this branch', undefined));
  if (options.mainCli !== undefined) {
    if (!existsSync(options.mainCli)) throw new OptionError(`${options.mainCli} missing (build main there first)`);
    builds.push(...newBuild(`main (${options.mainCli})`, options.mainCli));
  }
  for (const other of options.otherClis) {
    if (!existsSync(other.cli)) throw new OptionError(`${other.cli} missing`);
    builds.push(...newBuild(other.label, other.cli));
  }
  console.log(
    `bench allocations · engine ${options.engine}, access log ${options.accessLog}, ${options.tool} -c${options.connections}, ${options.body} B · ${options.maxSemiOnly ? 'max ' : ''}semi-space ${options.semiMiB.join(', ')} MiB · ` +
      (options.noInlining ? 'no inlining · ' : '') +
      (options.tool === 'wrk'
        ? `${options.rounds} round(s) × ${options.seconds} s, profile ${options.profileSeconds} s`
        : `${options.rounds} round(s) × ${options.requests} requests, profile ${options.profileRequests} requests`) +
      ` · ${pinning.description} · load average ${os.loadavg()[0]!.toFixed(2)}`,
  );
  const group = new ProcessGroup();
  try {
    const backends = await startBackends(group, pinning);
    for (const build of builds) {
      build.running = await startWaypost(
        { backends, group, pinning, tmpDir: build.probeDir },
        {
          engine: options.engine,
          accessLog: options.accessLog,
          ...(build.cli === undefined ? {} : { cli: build.cli }),
          nodeArgs: [
            ...(options.maxSemiOnly ? [] : [`--min-semi-space-size=${build.semiMiB}`]),
            `--max-semi-space-size=${build.semiMiB}`,
            ...(options.noInlining ? ['--no-turbo-inlining'] : []),
          ],
          env: { NODE_OPTIONS: `--import=${PROBE}`, PROXY_ALLOC_DIR: build.probeDir, PROXY_ALLOC_INTERVAL: String(options.interval) },
        },
      );
    }
    for (const build of builds) await drive(build, 'warm-up', options, group, pinning);
    for (let round = 1; round <= options.rounds; round++) {
      for (const build of builds) {
        await measureRound(build, options, group, pinning);
        const last = build.rounds.at(-1)!;
        console.log(`round ${round} ${build.label}: ${last.requests} requests, ${last.scavenges} scavenges, ${last.majors} major GCs, ${((last.cpuUserUs + last.cpuSystemUs) / last.requests).toFixed(1)} µs CPU/req`);
      }
    }
    for (const build of builds) await measureProfile(build, options, group, pinning);
    console.log('');
    for (const build of builds) console.log(`${report(build, options)}\n`);
  } finally {
    await group.stopAll();
    for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
  }
  return 0;
}

runBench(parse, main);
