/**
 * Stability under sustained load (issue 21 item 5): is a dip in a short bench the machine's, or
 * Waypost's? Each system takes wrk at saturation for `--duration` seconds, in interleaved rounds,
 * while a sampler records every second: req/s as the backends count them, proxy CPU per request
 * and RSS, other jobs' CPU on the machine, upstream connections opened (pool churn), and for
 * Waypost what the process saw itself: GC pause time, event-loop delay, heap, live handles
 * (children/proxy-stats.mjs, preloaded). It prints each timeline and a summary per run that says
 * how many slow seconds (CPU per request > 1.25× the run's median) coincide with other load or GC.
 *
 *   npx tsx bench/stability.ts [--duration 30] [--rounds 2] [--systems nginx-ka64,waypost-raw-log]
 *                              [--connections 64] [--body 100|16384] [--quiet] [--no-pin]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bodyPath, startBackends } from './lib/backends.js';
import { runWrk } from './lib/load.js';
import { OptionError, positive } from './lib/options.js';
import { choosePinning } from './lib/pin.js';
import { ProcessGroup, REPO_ROOT } from './lib/processes.js';
import { attachInProcessStats, formatTimeline, summarize, TimelineSampler } from './lib/stability-timeline.js';
import type { RunningSystem, SystemDefinition } from './lib/system.js';
import { ALL_SYSTEMS } from './lib/systems/index.js';
import { ensureWaypostBuilt, startWaypost, type WaypostEngine } from './lib/systems/waypost.js';
import { runWrkBench } from './lib/wrk-rounds.js';

const PRELOAD = path.join(REPO_ROOT, 'bench', 'lib', 'children', 'proxy-stats.mjs');

interface Options {
  durationSeconds: number;
  rounds: number;
  systems: string[];
  connections: number;
  body: number;
  timelines: boolean;
  pin: boolean;
}

function parse(argv: string[]): Options {
  const options: Options = {
    durationSeconds: 30,
    rounds: 2,
    systems: ['nginx-ka64', 'waypost-raw-log', 'waypost-undici-log'],
    connections: 64,
    body: 100,
    timelines: true,
    pin: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]!;
    if (name === '--no-pin') options.pin = false;
    else if (name === '--quiet') options.timelines = false;
    else if (!['--duration', '--rounds', '--connections', '--systems', '--body'].includes(name)) throw new OptionError(`unknown argument "${name}"`);
    else {
      const value = argv[++i];
      if (value === undefined) throw new OptionError(`${name}: missing value (see the header of bench/stability.ts)`);
      if (name === '--duration') options.durationSeconds = positive(name, value, true);
      else if (name === '--rounds') options.rounds = positive(name, value, true);
      else if (name === '--connections') options.connections = positive(name, value, true);
      else if (name === '--systems') options.systems = value.split(',').filter(Boolean);
      else if (name === '--body') {
        if (value !== '100' && value !== '16384') throw new OptionError(`--body: expected 100 or 16384, got "${value}"`);
        options.body = Number(value);
      }
    }
  }
  if (options.durationSeconds < 6) throw new OptionError('--duration: at least 6 seconds (the first and last are partial)');
  options.systems.forEach(definitionFor); // an unknown id is a usage error
  return options;
}

/** A Waypost row with the stats preload; the file it writes is `stats` in the system's temp dir. */
function waypostWithStats(engine: WaypostEngine, log: boolean): SystemDefinition {
  return {
    id: `waypost-${engine}${log ? '-log' : ''}`,
    label: `Waypost (${engine})${log ? ' + access log' : ''}`,
    unavailable: ensureWaypostBuilt,
    start: (context) =>
      startWaypost(context, {
        engine,
        accessLog: log ? 'stdout' : 'off',
        env: { NODE_OPTIONS: `--import=${PRELOAD}`, PROXY_STATS_FILE: path.join(context.tmpDir, 'stats') },
      }),
  };
}

function definitionFor(id: string): SystemDefinition {
  const waypost = /^waypost-(raw|undici|http-proxy)(-log)?$/.exec(id);
  if (waypost) return waypostWithStats(waypost[1] as WaypostEngine, waypost[2] !== undefined);
  const peer = ALL_SYSTEMS.find((s) => s.id === id);
  if (!peer) throw new OptionError(`--systems: unknown "${id}"; known: ${ALL_SYSTEMS.map((s) => s.id).join(', ')}`);
  return peer;
}

interface Started {
  definition: SystemDefinition;
  running: RunningSystem;
  tmpDir: string;
}

async function main(options: Options): Promise<number> {
  const definitions = options.systems.map(definitionFor);
  const pinning = choosePinning(options.pin);
  console.log(
    `bench stability · wrk -t1 -c${options.connections}, ${options.body} B · ${options.rounds} interleaved round(s) × ${options.durationSeconds} s · ${pinning.description} · load average ${os.loadavg()[0]!.toFixed(2)}`,
  );
  const group = new ProcessGroup();
  const started: Started[] = [];
  try {
    const backends = await startBackends(group, pinning, true);
    let served = 0;
    backends.process.child.stdout?.on('data', (chunk: Buffer) => {
      const counts = chunk.toString().match(/"served":(\d+)/g);
      if (counts) served = Number(counts.at(-1)!.slice(9));
    });
    for (const definition of definitions) {
      const reason = await definition.unavailable();
      if (reason) {
        console.log(`skip ${definition.id}: ${reason}`);
        continue;
      }
      const tmpDir = mkdtempSync(path.join(os.tmpdir(), `waypost-stability-${definition.id}-`));
      started.push({ definition, running: await definition.start({ backends, group, pinning, tmpDir }), tmpDir });
    }
    const ports = new Set(backends.ports);
    const load = (running: RunningSystem, seconds: number) =>
      runWrk(
        { url: `http://127.0.0.1:${running.port}${bodyPath(options.body)}`, hostHeader: running.hostHeader, connections: options.connections, durationSeconds: seconds },
        group,
        pinning,
      );
    for (const { running } of started) await load(running, 3); // warm-up: JIT, pools
    const summaries: string[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      for (const { definition, running, tmpDir } of started) {
        const startedAt = Date.now();
        const sampler = new TimelineSampler(running.pid ?? process.pid, ports, () => served);
        const result = await load(running, options.durationSeconds);
        const seconds = sampler.stop();
        attachInProcessStats(seconds, path.join(tmpDir, 'stats'), startedAt);
        const s = summarize(seconds);
        const line =
          `${definition.label.padEnd(28)} round ${round}: wrk ${Math.round(result.requestsPerSecond)} req/s, p99 ${result.p99Ms.toFixed(2)} ms · ` +
          `per second median ${s.medianRps} (${s.minRps}–${s.maxRps}) · CPU ${s.medianCpuUs.toFixed(1)} µs/req · ` +
          `slow seconds ${s.slowSeconds} (other load ${s.slowWithOtherLoad}, GC ≥ 50 ms ${s.slowWithGc}) · ` +
          `upstream connections opened ${s.opened} · RSS ${s.rssFirstMiB.toFixed(0)} → ${s.rssLastMiB.toFixed(0)} MiB`;
        console.log(line);
        summaries.push(line);
        if (options.timelines) console.log(`${formatTimeline(seconds)}\n`);
      }
    }
    console.log(`\nsummary\n${summaries.join('\n')}`);
    return 0;
  } finally {
    await Promise.all(started.map(({ running }) => running.stop()));
    for (const { tmpDir } of started) rmSync(tmpDir, { recursive: true, force: true });
    await group.stopAll();
  }
}

runWrkBench(parse, main);
