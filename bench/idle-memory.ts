/**
 * Idle memory (issue 21 item 4): what `waypost proxy` holds before any traffic, and each
 * dependency's share of it.
 *
 *   npx tsx bench/idle-memory.ts [--runs 3] [--settle 10] [--engines raw,undici,http-proxy]
 *                                [--no-modules] [--cli path/to/cli.js] [--baseline-cli path/to/cli.js]
 *
 * Proxy rows: `node dist/cli.js proxy` with the default config (embedded memory registry), once per
 * engine (`raw` is the default), in a temp dir, on free ports, access log off and on (stdout, into a
 * pipe this script drains). After /readyz answers 200 and `--settle` seconds (10 by default: the
 * idle trim, src/idle-trim.ts, has given back the young generation by then), reads VmRSS from
 * /proc/PID/status and heap used / resident from the admin /metrics, then stops the proxy by its
 * PID. `--baseline-cli` adds the same rows for another build, interleaved (before/after figures).
 * Floor rows: a bare `node` (a timer keeps it alive) and a bare node:http server listening on
 * 127.0.0.1, read the same way.
 * Module rows: a bare `node` that imports one dependency alone, VmRSS minus that of a node that
 * imported only `node:os` (the ESM loader is up in both, as it is in the proxy); and for what the
 * idle proxy loads, the share as the last one in (all of the idle set minus all but it).
 * Every reading is taken `--runs` times, interleaved, and the median printed (the machine is noisy).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1024 * 1024;
/** What src/prom-parts.ts loads at start: the registry and three metric classes, not the index. */
const PROM_PARTS = 'prom-client/lib/{registry,counter,gauge,histogram}.js';
const importsOf = (specifier: string): string[] =>
  specifier === PROM_PARTS ? ['registry', 'counter', 'gauge', 'histogram'].map((part) => `prom-client/lib/${part}.js`) : [specifier];
/** What each module row imports: the packages (and node: built-ins) a proxy process can load. */
const MODULES = [
  'undici',
  'undici/lib/dispatcher/pool.js',
  'zod',
  'zod/mini',
  'prom-client',
  PROM_PARTS,
  'pino',
  'commander',
  '@opentelemetry/api',
  'safe-regex2',
  'node:http2',
  'yaml',
  'http-proxy',
  'ioredis',
];
/**
 * What an idle proxy on the default config loads (test/e2e/idle-modules.test.ts lists the rest as
 * absent). Shares measured alone overlap (Node's own modules that several of them load count in
 * each), so each of these is also measured as the last one in: all of them minus all but it.
 */
const IDLE_SET = ['zod', PROM_PARTS, 'pino', 'commander'];

/** What the share is measured against: node with its ESM loader up and nothing else. */
const BASELINE = 'node:os';
const ALL = 'idle set';

const ENGINES = ['raw', 'undici', 'http-proxy'] as const;
type Engine = (typeof ENGINES)[number];

interface Options {
  runs: number;
  settleMs: number;
  engines: Engine[];
  modules: boolean;
  cli: string;
  baselineCli: string | undefined;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { runs: 3, settleMs: 10_000, engines: [...ENGINES], modules: true, cli: path.join(ROOT, 'dist', 'cli.js'), baselineCli: undefined };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const text = argv[++i];
      if (text === undefined) throw new Error(`${arg}: a value is required`);
      return text;
    };
    if (arg === '--runs') options.runs = positiveInteger(arg, value());
    else if (arg === '--settle') options.settleMs = positiveInteger(arg, value()) * 1000;
    else if (arg === '--engines') options.engines = value().split(',').map((engine) => engineName(arg, engine));
    else if (arg === '--no-modules') options.modules = false;
    else if (arg === '--cli') options.cli = path.resolve(value());
    else if (arg === '--baseline-cli') options.baselineCli = path.resolve(value());
    else throw new Error(`unknown option ${arg}`);
  }
  return options;
}

function engineName(flag: string, text: string): Engine {
  if (!(ENGINES as readonly string[]).includes(text)) throw new Error(`${flag}: expected ${ENGINES.join(', ')}, got "${text}"`);
  return text as Engine;
}

function positiveInteger(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name}: expected a positive integer, got "${text}"`);
  return value;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function vmRssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for PID ${pid}`);
  return Number(match[1]) * 1024;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The proxy env without the caller's WAYPOST_* settings: the default config is what is measured. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('WAYPOST_')) delete env[key];
  delete env.NODE_OPTIONS;
  return env;
}

interface ProxyReading {
  rss: number;
  heapUsed: number;
  resident: number;
}

async function metric(adminPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const match = new RegExp(`^${name}\\s+([\\d.e+]+)`, 'm').exec(text);
  if (!match) throw new Error(`/metrics has no ${name}`);
  return Number(match[1]);
}

async function untilReady(adminPort: number, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`http://127.0.0.1:${adminPort}/readyz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error('the proxy was not ready within 30 s');
}

/** One proxy start → idle reading → stop. */
async function readProxy(options: Options, cli: string, engine: Engine, accessLog: 'off' | 'stdout'): Promise<ProxyReading> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'waypost-idle-'));
  const args = [cli, 'proxy', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--access-log', accessLog, '--engine', engine];
  const child = spawn(process.execPath, args, {
    cwd: dir,
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  try {
    let output = '';
    const adminPort = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "waypost started" line in 30 s:\n${output}`)), 30_000);
      child.on('close', () => reject(new Error(`the proxy exited:\n${output}`)));
      const onData = (chunk: Buffer) => {
        output += chunk;
        const line = output.split('\n').find((l) => l.includes('"waypost started"'));
        if (!line) return;
        clearTimeout(timer);
        resolve((JSON.parse(line) as { admin: { port: number } }).admin.port);
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
    });
    await untilReady(adminPort, Date.now() + 30_000);
    await sleep(options.settleMs);
    const rss = vmRssBytes(child.pid!);
    return {
      rss,
      heapUsed: await metric(adminPort, 'nodejs_heap_size_used_bytes'),
      resident: await metric(adminPort, 'process_resident_memory_bytes'),
    };
  } finally {
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** VmRSS of a bare node (`floor` = bare / an http server), read after settling as the proxy is. */
async function readFloor(options: Options, floor: 'node' | 'node:http'): Promise<number> {
  const start = floor === 'node' ? 'setInterval(() => {}, 1000);' : "require('node:http').createServer().listen(0, '127.0.0.1');";
  const script = `${start} setTimeout(() => { process.stdout.write(require('node:fs').readFileSync('/proc/self/status', 'utf8')); process.exit(0); }, ${options.settleMs});`;
  const child = spawn(process.execPath, ['-e', script], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const match = /^VmRSS:\s+(\d+) kB/m.exec(output);
  if (code !== 0 || !match) throw new Error(`the bare ${floor} row failed (exit ${code})`);
  return Number(match[1]) * 1024;
}

/** VmRSS of a bare node that imported `specifiers` (in order), read after settling. */
async function readImports(options: Options, specifiers: readonly string[]): Promise<number> {
  const load = specifiers.flatMap(importsOf).map((specifier) => `await import(${JSON.stringify(specifier)});`).join(' ');
  const script = `${load} setTimeout(() => process.stdout.write(require('node:fs').readFileSync('/proc/self/status', 'utf8')), ${options.settleMs});`;
  // CommonJS eval for `require`, with a dynamic import resolved from the repo root (cwd).
  const child = spawn(process.execPath, ['-e', `(async () => { ${script} })()`], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const match = /^VmRSS:\s+(\d+) kB/m.exec(output);
  if (code !== 0 || !match) throw new Error(`importing ${specifiers.join(', ')} failed (exit ${code})`);
  return Number(match[1]) * 1024;
}

const mib = (bytes: number) => (bytes / MiB).toFixed(1);

function spread(values: number[]): string {
  const mid = median(values);
  return mid === 0 ? '–' : `${(((Math.max(...values) - Math.min(...values)) / mid) * 100).toFixed(0)} %`;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const builds: [string, string][] = [['this build', options.cli], ...(options.baselineCli ? [['baseline', options.baselineCli] as [string, string]] : [])];
  const proxyRuns = new Map<string, ProxyReading[]>();
  const floorRuns = new Map<string, number[]>();
  const moduleRuns = new Map<string, number[]>();
  const push = <T>(map: Map<string, T[]>, key: string, value: T) => map.set(key, [...(map.get(key) ?? []), value]);
  // Interleaved: one reading of every row per round, so drift hits all rows alike.
  for (let round = 0; round < options.runs; round++) {
    for (const floor of ['node', 'node:http'] as const) push(floorRuns, floor, await readFloor(options, floor));
    for (const engine of options.engines) {
      for (const accessLog of ['off', 'stdout'] as const) {
        for (const [build, cli] of builds) push(proxyRuns, `${build}|${engine}|${accessLog}`, await readProxy(options, cli, engine, accessLog));
      }
    }
    if (options.modules) {
      for (const specifier of [BASELINE, ...MODULES]) push(moduleRuns, specifier, await readImports(options, [specifier]));
      push(moduleRuns, ALL, await readImports(options, IDLE_SET));
      for (const specifier of IDLE_SET) push(moduleRuns, `${ALL} but ${specifier}`, await readImports(options, IDLE_SET.filter((s) => s !== specifier)));
    }
    process.stderr.write(`round ${round + 1}/${options.runs} done\n`);
  }

  console.log(`\nwaypost proxy, default config, idle (median of ${options.runs}, interleaved; ${options.settleMs / 1000} s after /readyz)\n`);
  console.log('| build | engine | access log | VmRSS MiB | spread | heap used MiB (/metrics) | VmRSS runs |');
  console.log('|---|---|---|---:|---:|---:|---|');
  for (const [build] of builds) {
    for (const engine of options.engines) {
      for (const accessLog of ['off', 'stdout'] as const) {
        const runs = proxyRuns.get(`${build}|${engine}|${accessLog}`)!;
        const rss = runs.map((r) => r.rss);
        console.log(
          `| ${build} | ${engine}${engine === 'raw' ? ' (default)' : ''} | ${accessLog} | ${mib(median(rss))} | ${spread(rss)} | ` +
            `${mib(median(runs.map((r) => r.heapUsed)))} | ${rss.map(mib).join(', ')} |`,
        );
      }
    }
  }
  for (const [floor, label] of [['node', 'bare `node` (a timer)'], ['node:http', 'bare node:http server, listening']] as const) {
    const rss = floorRuns.get(floor)!;
    console.log(`| floor | ${label} | – | ${mib(median(rss))} | ${spread(rss)} | – | ${rss.map(mib).join(', ')} |`);
  }
  if (!options.modules) return;
  const bare = median(moduleRuns.get(BASELINE)!);
  console.log(`\none dependency imported alone into bare node (node with ${BASELINE} only: ${mib(bare)} MiB VmRSS; median of ${options.runs})\n`);
  console.log('| module | VmRSS MiB | share alone MiB | share as the last of the idle set MiB |');
  console.log('|---|---:|---:|---:|');
  const all = median(moduleRuns.get(ALL)!);
  for (const specifier of MODULES) {
    const rss = median(moduleRuns.get(specifier)!);
    const allBut = moduleRuns.get(`${ALL} but ${specifier}`);
    console.log(`| ${specifier} | ${mib(rss)} | +${mib(rss - bare)} | ${allBut ? `+${mib(all - median(allBut))}` : '–'} |`);
  }
  console.log(`| the idle set together (${IDLE_SET.join(', ')}) | ${mib(all)} | +${mib(all - bare)} | |`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
