/**
 * Idle memory (issue 21 item 4): what `waypost proxy` holds before any traffic, and each
 * dependency's share of it.
 *
 *   npx tsx bench/idle-memory.ts [--runs 3] [--settle 3] [--no-modules] [--cli path/to/cli.js]
 *
 * Proxy rows: `node dist/cli.js proxy` with the default config (embedded memory registry, undici
 * engine), in a temp dir, on free ports, access log off and on (stdout, into a pipe this script
 * drains). After /readyz answers 200 and `--settle` seconds, reads VmRSS from /proc/PID/status and
 * heap used / resident from the admin /metrics, then stops the proxy by its PID.
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
/** What each module row imports: the packages (and node: built-ins) a proxy process can load. */
const MODULES = [
  'undici',
  'undici/lib/dispatcher/pool.js',
  'zod',
  'prom-client',
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
const IDLE_SET = ['undici/lib/dispatcher/pool.js', 'zod', 'prom-client', 'pino', 'commander'];

/** What the share is measured against: node with its ESM loader up and nothing else. */
const BASELINE = 'node:os';
const ALL = 'idle set';

interface Options {
  runs: number;
  settleMs: number;
  modules: boolean;
  cli: string;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { runs: 3, settleMs: 3000, modules: true, cli: path.join(ROOT, 'dist', 'cli.js') };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const text = argv[++i];
      if (text === undefined) throw new Error(`${arg}: a value is required`);
      return text;
    };
    if (arg === '--runs') options.runs = positiveInteger(arg, value());
    else if (arg === '--settle') options.settleMs = positiveInteger(arg, value()) * 1000;
    else if (arg === '--no-modules') options.modules = false;
    else if (arg === '--cli') options.cli = path.resolve(value());
    else throw new Error(`unknown option ${arg}`);
  }
  return options;
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
async function readProxy(options: Options, accessLog: 'off' | 'stdout'): Promise<ProxyReading> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'waypost-idle-'));
  const child = spawn(process.execPath, [options.cli, 'proxy', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--access-log', accessLog], {
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

/** VmRSS of a bare node that imported `specifiers` (in order), read after settling. */
async function readImports(options: Options, specifiers: readonly string[]): Promise<number> {
  const load = specifiers.map((specifier) => `await import(${JSON.stringify(specifier)});`).join(' ');
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

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const proxyRuns: Record<'off' | 'stdout', ProxyReading[]> = { off: [], stdout: [] };
  const moduleRuns = new Map<string, number[]>();
  // Interleaved: one reading of every row per round, so drift hits all rows alike.
  for (let round = 0; round < options.runs; round++) {
    for (const accessLog of ['off', 'stdout'] as const) proxyRuns[accessLog].push(await readProxy(options, accessLog));
    if (!options.modules) continue;
    const record = (key: string, rss: number) => moduleRuns.set(key, [...(moduleRuns.get(key) ?? []), rss]);
    for (const specifier of [BASELINE, ...MODULES]) record(specifier, await readImports(options, [specifier]));
    record(ALL, await readImports(options, IDLE_SET));
    for (const specifier of IDLE_SET) record(`${ALL} but ${specifier}`, await readImports(options, IDLE_SET.filter((s) => s !== specifier)));
    process.stderr.write(`round ${round + 1}/${options.runs} done\n`);
  }

  console.log(`\nwaypost proxy, default config, idle (median of ${options.runs}; ${options.settleMs / 1000} s after /readyz)\n`);
  console.log('| access log | VmRSS MiB | heap used MiB (/metrics) | resident MiB (/metrics) | VmRSS runs |');
  console.log('|---|---:|---:|---:|---|');
  for (const accessLog of ['off', 'stdout'] as const) {
    const runs = proxyRuns[accessLog];
    console.log(
      `| ${accessLog} | ${mib(median(runs.map((r) => r.rss)))} | ${mib(median(runs.map((r) => r.heapUsed)))} | ` +
        `${mib(median(runs.map((r) => r.resident)))} | ${runs.map((r) => mib(r.rss)).join(', ')} |`,
    );
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
