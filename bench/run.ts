/**
 * `npm run bench`: Waypost against direct, nginx, HAProxy, Caddy, redbird and the bare engines,
 * in one run, on the same two Node backends, proxy and load generator on separate cores.
 * Run: `npx tsx bench/run.ts [--quick] [--help]`. See bench/README.md.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bodyPath, startBackends } from './lib/backends.js';
import { installMissingPeers } from './lib/install.js';
import { runAutocannon, runLoad, wrkAvailable, type LoadResult, type LoadTool } from './lib/load.js';
import { parseOptions, USAGE, type BenchOptions } from './lib/options.js';
import { choosePinning, type Pinning } from './lib/pin.js';
import { ProcessGroup, REPO_ROOT, sleep } from './lib/processes.js';
import { ForeignLoadMonitor, ResourceMonitor, rssBytes } from './lib/resources.js';
import { skippedAsUnavailable, type RunningSystem, type SystemContext, type SystemDefinition } from './lib/system.js';
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

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function firstLine(error: unknown): string {
  const text = (error instanceof Error ? error.message : String(error)).split('\n').slice(0, 3).join(' ⏎ ');
  return text.length > 400 ? `${text.slice(0, 400)}…` : text;
}

/** Every tool × body for one started system: warm up, measure `runs` times, keep the medians. */
async function measureSystem(
  definition: SystemDefinition,
  running: RunningSystem,
  options: BenchOptions,
  tools: LoadTool[],
  group: ProcessGroup,
  pinning: Pinning,
): Promise<ResultRow[]> {
  await sleep(300); // let start-up allocations settle before the idle reading
  const rssIdle = running.pid !== undefined ? rssBytes(running.pid) / MiB : undefined;
  const rows: ResultRow[] = [];
  for (const bodyBytes of options.bodies) {
    const request = {
      url: `http://127.0.0.1:${running.port}${bodyPath(bodyBytes)}`,
      hostHeader: running.hostHeader,
      connections: options.connections,
    };
    for (const tool of tools) {
      if (options.warmupSeconds > 0) await runAutocannon({ ...request, durationSeconds: options.warmupSeconds });
      const results: LoadResult[] = [];
      const cpu: number[] = [];
      const foreign: number[] = [];
      let peakRss = 0;
      for (let run = 0; run < options.runs; run++) {
        const monitor = running.pid !== undefined ? new ResourceMonitor(running.pid) : undefined;
        const others = new ForeignLoadMonitor();
        results.push(await runLoad(tool, { ...request, durationSeconds: options.durationSeconds, rate: options.rate }, group, pinning));
        foreign.push(others.stop());
        const sample = monitor?.stop();
        if (sample) {
          cpu.push(sample.cpuPercent);
          peakRss = Math.max(peakRss, sample.peakRssBytes);
        }
      }
      const row: ResultRow = {
        system: definition.id,
        label: definition.label,
        tool,
        bodyBytes,
        requestsPerSecond: median(results.map((r) => r.requestsPerSecond)),
        p50Ms: median(results.map((r) => r.p50Ms)),
        p99Ms: median(results.map((r) => r.p99Ms)),
        proxyCpuPercent: cpu.length > 0 ? median(cpu) : undefined,
        rssIdleMiB: rssIdle,
        rssLoadedMiB: running.pid !== undefined ? peakRss / MiB : undefined,
        errors: results.reduce((sum, r) => sum + r.errors, 0),
        non2xx: results.reduce((sum, r) => sum + r.non2xx, 0),
        otherCpuPercent: Math.max(...foreign),
        runs: options.runs,
      };
      console.log(
        `  ${definition.id} ${tool} ${bodyBytes} B: ${Math.round(row.requestsPerSecond)} req/s, p99 ${row.p99Ms.toFixed(2)} ms, ` +
          `errors ${row.errors}, non-2xx ${row.non2xx}, other CPU ${row.otherCpuPercent.toFixed(0)} %`,
      );
      rows.push(row);
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
    for (const definition of systems) {
      if (await skippedAsUnavailable(definition, skipped)) continue;
      const tmpDir = mkdtempSync(path.join(os.tmpdir(), `waypost-bench-${definition.id}-`));
      const context: SystemContext = { backends, group, pinning, tmpDir };
      let running: RunningSystem | undefined;
      const systemBegan = Date.now();
      try {
        console.log(`${definition.id}: starting`);
        running = await definition.start(context);
        console.log(`  started in ${Date.now() - systemBegan} ms`);
        rows.push(...(await measureSystem(definition, running, options, tools, group, pinning)));
      } catch (error) {
        console.log(`skip ${definition.id}: ${firstLine(error)}`);
        skipped.push({ system: definition.id, reason: firstLine(error) });
      } finally {
        await running?.stop();
        rmSync(tmpDir, { recursive: true, force: true });
        console.log(`  ${definition.id} done in ${((Date.now() - systemBegan) / 1000).toFixed(1)} s`);
      }
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
