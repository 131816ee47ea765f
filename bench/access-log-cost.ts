/**
 * What the access log costs inside a loaded proxy (issue 21 item 3: ≤ 3 µs a request). The
 * micro benchmark (bench/micro/hot-path.bench.ts) times one line on a warm, private core; here
 * every AccessLog.write and RequestRecord.write of a Waypost (raw engine, access log on) is timed
 * where it runs, under wrk -c64 at 100 B, sharing caches with the rest of the request
 * (children/access-log-timer.mjs, preloaded; its own timer cost is measured and taken off).
 * With `--base-cli` another build runs beside this one, interleaved round by round.
 * Run: `npx tsx bench/access-log-cost.ts [--base-cli PATH] [--rounds 5] [--duration 3] [--no-pin]`
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bodyPath, startBackends } from './lib/backends.js';
import { runWrk } from './lib/load.js';
import { positive, strictFlags } from './lib/options.js';
import { choosePinning } from './lib/pin.js';
import { ProcessGroup, REPO_ROOT, sleep } from './lib/processes.js';
import { ResourceMonitor } from './lib/resources.js';
import { median, spreadPercent } from './lib/rounds.js';
import type { RunningSystem } from './lib/system.js';
import { ensureWaypostBuilt, startWaypost } from './lib/systems/waypost.js';
import { runWrkBench } from './lib/wrk-rounds.js';

const TIMER = path.join(REPO_ROOT, 'bench', 'lib', 'children', 'access-log-timer.mjs');

interface Options {
  baseCli: string | undefined;
  rounds: number;
  durationSeconds: number;
  pin: boolean;
}

interface Round {
  requestsPerSecond: number;
  cpuUsPerRequest: number;
  lineUs: number;
  recordUs: number;
}

interface Build {
  label: string;
  cli: string;
  timerFile: string;
  running?: RunningSystem;
  rounds: Round[];
}

function parse(argv: string[]): Options {
  const { values, switches } = strictFlags(argv, ['--base-cli', '--rounds', '--duration'], ['--no-pin']);
  const rounds = values.get('--rounds');
  const duration = values.get('--duration');
  const baseCli = values.get('--base-cli');
  return {
    baseCli: baseCli === undefined ? undefined : path.resolve(baseCli),
    rounds: rounds ? positive('--rounds', rounds, true) : 5,
    durationSeconds: duration ? positive('--duration', duration, true) : 3,
    pin: !switches.has('--no-pin'),
  };
}

/** Signals the timer to write its sums since the last signal, then reads them. */
async function readTimer(build: Build): Promise<{ lineMs: number; lines: number; recordMs: number; records: number }> {
  const before = statMtime(build.timerFile);
  process.kill(build.running!.pid!, 'SIGUSR2');
  for (let waited = 0; waited < 5_000; waited += 20) {
    if (statMtime(build.timerFile) !== before) return JSON.parse(readFileSync(build.timerFile, 'utf8'));
    await sleep(20);
  }
  throw new Error(`${build.label}: the timer wrote nothing within 5 s`);
}

function statMtime(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}

async function main(options: Options): Promise<number> {
  const built = await ensureWaypostBuilt();
  if (built !== undefined) throw new Error(built);
  const pinning = choosePinning(options.pin);
  const tmpDir = mkdtempSync(path.join(os.tmpdir(), 'waypost-access-log-cost-'));
  const builds: Build[] = [{ label: 'this build', cli: path.join(REPO_ROOT, 'dist', 'cli.js'), timerFile: path.join(tmpDir, 'this.json'), rounds: [] }];
  if (options.baseCli !== undefined) builds.push({ label: `base (${options.baseCli})`, cli: options.baseCli, timerFile: path.join(tmpDir, 'base.json'), rounds: [] });
  console.log(`bench access-log-cost · wrk -t1 -c64, 100 B · ${options.rounds} interleaved rounds × ${options.durationSeconds} s (+3 s warm-up) · ${pinning.description}`);
  const group = new ProcessGroup();
  try {
    const backends = await startBackends(group, pinning);
    for (const build of builds) {
      const buildDir = mkdtempSync(path.join(tmpDir, 'build-'));
      build.running = await startWaypost(
        { backends, group, pinning, tmpDir: buildDir },
        {
          engine: 'raw',
          accessLog: 'stdout',
          cli: build.cli,
          nodeArgs: ['--import', TIMER],
          env: { WAYPOST_DIST_DIR: path.dirname(build.cli), ACCESS_LOG_TIMER_FILE: build.timerFile },
        },
      );
    }
    const load = (build: Build, seconds: number) =>
      runWrk(
        { url: `http://127.0.0.1:${build.running!.port}${bodyPath(100)}`, hostHeader: build.running!.hostHeader, connections: 64, durationSeconds: seconds },
        group,
        pinning,
      );
    for (const build of builds) await load(build, 3);
    for (let round = 1; round <= options.rounds; round++) {
      for (const build of builds) {
        await readTimer(build);
        const monitor = new ResourceMonitor(build.running!.pid!);
        const result = await load(build, options.durationSeconds);
        const cpuPercent = monitor.stop().cpuPercent;
        const timed = await readTimer(build);
        const sample: Round = {
          requestsPerSecond: result.requestsPerSecond,
          cpuUsPerRequest: (cpuPercent / 100 / result.requestsPerSecond) * 1e6,
          lineUs: (timed.lineMs / timed.lines) * 1000,
          recordUs: (timed.recordMs / timed.records) * 1000,
        };
        build.rounds.push(sample);
        console.log(
          `  round ${round} ${build.label}: ${Math.round(sample.requestsPerSecond)} req/s, ${sample.cpuUsPerRequest.toFixed(1)} µs CPU/req, ` +
            `access log ${sample.lineUs.toFixed(2)} µs/line, record ${sample.recordUs.toFixed(2)} µs (${timed.lines} lines)`,
        );
      }
    }
  } finally {
    await group.stopAll();
    rmSync(tmpDir, { recursive: true, force: true });
  }
  console.log('\n| build | req/s | CPU µs/req | access log µs/line (spread) | record µs/req (spread) | log share of CPU |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const build of builds) {
    const of = (pick: (r: Round) => number) => build.rounds.map(pick);
    const line = median(of((r) => r.lineUs));
    const cpu = median(of((r) => r.cpuUsPerRequest));
    console.log(
      `| ${build.label} | ${Math.round(median(of((r) => r.requestsPerSecond)))} | ${cpu.toFixed(1)} | ${line.toFixed(2)} (${spreadPercent(of((r) => r.lineUs)).toFixed(0)} %) | ` +
        `${median(of((r) => r.recordUs)).toFixed(2)} (${spreadPercent(of((r) => r.recordUs)).toFixed(0)} %) | ${((line / cpu) * 100).toFixed(1)} % |`,
    );
  }
  if (builds.length === 2) {
    const ratios = builds[0]!.rounds.map((r, i) => r.lineUs / builds[1]!.rounds[i]!.lineUs);
    console.log(`\nthis build ÷ base, µs per line, round by round: ${ratios.map((r) => r.toFixed(3)).join(', ')} (median ${median(ratios).toFixed(3)})`);
  }
  return 0;
}

runWrkBench(parse, main);
