/**
 * `npm run bench`: Waypost against direct, nginx, HAProxy, Caddy, redbird and the bare engines,
 * in one run, on the same two Node backends, proxy and load generator on separate cores.
 * Run: `npx tsx bench/run.ts [--quick] [--help]`. See bench/README.md.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bodyPath, startBackends } from './lib/backends.js';
import { installMissingPeers } from './lib/install.js';
import { runAutocannon, runLoad, wrkAvailable, type LoadTool } from './lib/load.js';
import { parseOptions, USAGE, type BenchOptions } from './lib/options.js';
import { choosePinning, type Pinning } from './lib/pin.js';
import { ProcessGroup, REPO_ROOT, sleep } from './lib/processes.js';
import { ResourceMonitor, rssBytes } from './lib/resources.js';
import { median, runInterleaved, spreadPercent, startContenders, type Contender } from './lib/rounds.js';
import type { RunningSystem, SystemDefinition } from './lib/system.js';
import { selectSystems } from './lib/systems/index.js';
import { addRatios, writeReport, type BenchReport, type ResultRow, type SkippedSystem } from './lib/table.js';

const MiB = 1024 * 1024;

function chooseTools(options: BenchOptions, skipped: SkippedSystem[]): LoadTool[] {
  const hasWrk = wrkAvailable();
  // --rate measures latency at equal load: the paced generator only.
  if (options.rate !== undefined) return ['paced'];
  if (options.tools === 'auto') {
    if (!hasWrk) skipped.push({ system: 'wrk (tool)', reason: 'wrk not found; autocannon only' });
    return hasWrk ? (options.quick ? ['wrk'] : ['autocannon', 'wrk']) : ['autocannon'];
  }
  if (options.tools.includes('wrk') && !hasWrk) {
    skipped.push({ system: 'wrk (tool)', reason: 'wrk not found; its rows are skipped' });
    return options.tools.filter((t) => t !== 'wrk');
  }
  return options.tools;
}

/** 1-minute load average: other work on the machine skews every figure. */
function loadAverage(): string {
  return os.loadavg()[0]!.toFixed(2);
}

function firstLine(error: unknown): string {
  const text = (error instanceof Error ? error.message : String(error)).split('\n').slice(0, 3).join(' ⏎ ');
  return text.length > 400 ? `${text.slice(0, 400)}…` : text;
}

/**
 * Every tool × body, interleaved (BENCH.md "Noise"): each round measures every started system
 * once, in the same order, so a drift of the machine's speed hits all of them alike; a row
 * reports the median over the rounds and their spread.
 */
async function measureInterleaved(
  contenders: Contender[],
  options: BenchOptions,
  tools: LoadTool[],
  group: ProcessGroup,
  pinning: Pinning,
): Promise<ResultRow[]> {
  await sleep(300); // let start-up allocations settle before the idle readings
  const idle = new Map(contenders.map((c) => [c.definition.id, c.running.pid !== undefined ? rssBytes(c.running.pid) / MiB : undefined]));
  const rows: ResultRow[] = [];
  for (const bodyBytes of options.bodies) {
    for (const tool of tools) {
      const requestOf = (running: RunningSystem) => ({
        url: `http://127.0.0.1:${running.port}${bodyPath(bodyBytes)}`,
        hostHeader: running.hostHeader,
        connections: options.connections,
      });
      console.log(`${tool} ${bodyBytes} B: warm-up, then ${options.runs} interleaved round(s)`);
      if (options.warmupSeconds > 0) {
        for (const c of contenders) await runAutocannon({ ...requestOf(c.running), durationSeconds: options.warmupSeconds });
      }
      const peakRss = new Map<string, number>();
      const samples = await runInterleaved(
        contenders,
        options.runs,
        async (c) => {
          const monitor = c.running.pid !== undefined ? new ResourceMonitor(c.running.pid) : undefined;
          const result = await runLoad(tool, { ...requestOf(c.running), durationSeconds: options.durationSeconds, rate: options.rate }, group, pinning);
          const peak = monitor?.stop().peakRssBytes ?? 0;
          peakRss.set(c.definition.id, Math.max(peakRss.get(c.definition.id) ?? 0, peak));
          return result;
        },
        (id, sample) => `${id}: ${Math.round(sample.result.requestsPerSecond)} req/s, p99 ${sample.result.p99Ms.toFixed(2)} ms, other CPU ${sample.otherCpuPercent.toFixed(0)} %`,
      );
      for (const c of contenders) {
        const runs = samples.get(c.definition.id) ?? [];
        if (runs.length === 0) continue;
        const results = runs.map((r) => r.result);
        const rates = results.map((r) => r.requestsPerSecond);
        const cpu = runs.map((r) => r.proxyCpuPercent).filter((v): v is number => v !== undefined);
        const requestsPerSecond = median(rates);
        const proxyCpuPercent = cpu.length > 0 ? median(cpu) : undefined;
        rows.push({
          system: c.definition.id,
          label: c.definition.label,
          tool,
          bodyBytes,
          requestsPerSecond,
          spreadPercent: spreadPercent(rates),
          p50Ms: median(results.map((r) => r.p50Ms)),
          p99Ms: median(results.map((r) => r.p99Ms)),
          proxyCpuPercent,
          cpuMicrosPerRequest: proxyCpuPercent !== undefined && requestsPerSecond > 0 ? ((proxyCpuPercent / 100) * 1e6) / requestsPerSecond : undefined,
          rssIdleMiB: idle.get(c.definition.id),
          rssLoadedMiB: c.running.pid !== undefined ? (peakRss.get(c.definition.id) ?? 0) / MiB : undefined,
          errors: results.reduce((sum, r) => sum + r.errors, 0),
          non2xx: results.reduce((sum, r) => sum + r.non2xx, 0),
          otherCpuPercent: Math.max(...runs.map((r) => r.otherCpuPercent)),
          runs: runs.length,
        });
      }
    }
  }
  return rows;
}

async function main(): Promise<number> {
  let options: BenchOptions;
  let systems: SystemDefinition[];
  if (process.argv.includes('--help')) {
    console.log(USAGE);
    return 0;
  }
  try {
    options = parseOptions(process.argv.slice(2));
    systems = selectSystems(options.systems, options.quick);
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  const startedAt = new Date().toISOString();
  const loadAtStart = loadAverage();
  if (Number(loadAtStart) > 0.5) {
    console.log(`warning: 1-minute load average is ${loadAtStart} before the bench: other work shares these cores, figures will be low and noisy`);
  }
  const began = Date.now();
  const skipped: SkippedSystem[] = [];
  installMissingPeers(options.install);
  const pinning = choosePinning(options.pin);
  const tools = chooseTools(options, skipped);
  console.log(`bench: ${systems.map((s) => s.id).join(', ')}`);
  console.log(`tools ${tools.join('+')} · bodies ${options.bodies.join('+')} B · ${options.durationSeconds} s × ${options.runs} run(s) · ${options.connections} connections${options.rate === undefined ? '' : ` · paced at ${options.rate} req/s`} · ${pinning.description}`);

  const group = new ProcessGroup();
  const rows: ResultRow[] = [];
  try {
    const backends = await startBackends(group, pinning);
    const started = await startContenders(systems, { backends, group, pinning }, skipped);
    try {
      console.log(`started: ${started.contenders.map((c) => c.definition.id).join(', ')}`);
      rows.push(...(await measureInterleaved(started.contenders, options, tools, group, pinning)));
    } finally {
      await started.stop();
    }
  } finally {
    await group.stopAll();
  }

  addRatios(rows);
  const report: BenchReport = {
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      node: process.version,
      pinning: pinning.description,
      loadAverage: `${loadAtStart} at start, ${loadAverage()} at end`,
    },
    settings: {
      quick: options.quick,
      duration: `${options.durationSeconds}s`,
      warmup: `${options.warmupSeconds}s`,
      connections: options.connections,
      runs: options.runs,
      ...(options.rate === undefined ? {} : { rate: `${options.rate} req/s` }),
      tools,
      bodies: options.bodies,
    },
    rows,
    skipped,
  };
  const file = writeReport(report, path.join(REPO_ROOT, 'bench', 'results'));
  console.log(`\n${readFileSync(file, 'utf8')}`);
  console.log(`written: ${path.relative(REPO_ROOT, file)} (+ .json, latest.md) in ${((Date.now() - began) / 1000).toFixed(0)} s`);
  return rows.length > 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
