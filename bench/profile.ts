/**
 * Profile Waypost's own request path: start two backends, `node --cpu-prof dist/cli.js proxy`
 * with every feature on (routing by host convention, round-robin balancer, metrics, access log
 * to /dev/null), drive it with autocannon, stop it with SIGTERM (which writes the profile) and
 * print the functions with the most self time plus req/s and p99.
 *
 *   npx tsx bench/profile.ts [--engine undici|http-proxy] [--duration 10] [--body 100|16384]
 *                            [--workers N] [--no-profile] [--no-log] [--no-pin] [--cli path/to/cli.js]
 *                            [--variant 'NAME=YAML' …] [--rounds 3]
 *                            [--defaults '{"compress":{}}'] [--accept-encoding 'gzip, br']
 *
 * With `--variant` (repeatable) one proxy per variant starts, its config extended by the variant's
 * YAML (`{}` for none; `{otlp}` in it stands for a local OTLP/HTTP sink this script runs), and the
 * variants are measured in interleaved rounds (A B C A B C …: the machine's drift hits all alike);
 * the table gives each variant's median req/s, its spread and the proxy's CPU µs per request.
 *   npx tsx bench/profile.ts --variant 'off={}' --variant 'traced-1%=tracing: { otlpEndpoint: "{otlp}", sampleRatio: 0.01 }'
 *
 * `--defaults` is the config's `defaults` (route policy, JSON) for the convention route the load
 * goes through; `--accept-encoding` is sent with every request (to measure `compress`).
 *
 * The proxy runs on CPU 1 and everything else on CPU 0 when `taskset` exists (as in bench/run.ts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { freePort } from '../test/helpers/ports.js';
import { flagReader } from './lib/options.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = flagReader(args);
const engine = flag('engine', '');
const durationS = Number(flag('duration', '10'));
const bodySize = Number(flag('body', '100'));
const workers = Number(flag('workers', '1'));
/** Another build to compare with (e.g. an older commit's dist/cli.js). */
const cli = path.resolve(flag('cli', path.join(ROOT, 'dist', 'cli.js')));
const variants = args.flatMap((arg, i) => (arg === '--variant' ? [args[i + 1]!] : [])).map((spec) => {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new Error(`--variant: expected NAME=YAML, got "${spec}"`);
  return { name: spec.slice(0, eq), yaml: spec.slice(eq + 1) };
});
const rounds = Number(flag('rounds', '3'));
const profile = !args.includes('--no-profile') && variants.length === 0;
const policyDefaults = flag('defaults', '');
const acceptEncoding = flag('accept-encoding', '');
const loadHeaders: Record<string, string> = { host: 'bench.localhost', ...(acceptEncoding ? { 'accept-encoding': acceptEncoding } : {}) };
const accessLog = args.includes('--no-log') ? 'off' : 'stdout';
const pin = !args.includes('--no-pin') && spawnSync('taskset', ['-V']).status === 0 && os.cpus().length >= 2;
if (pin) spawnSync('taskset', ['-p', '-c', '0', String(process.pid)]);

async function backend(): Promise<http.Server> {
  const small = Buffer.alloc(100, 'a');
  const large = Buffer.alloc(16 * 1024, 'b');
  const server = http.createServer({ keepAliveTimeout: 120_000 }, (req, res) => {
    const body = req.url === '/bytes/16384' ? large : small;
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

function rssKiB(pid: number): number {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(text)?.[1] ?? 0);
}

/** CPU seconds (user + system) of a process and its direct children (cluster workers). */
function treeCpuSeconds(pid: number): number {
  const children = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
  let ticks = 0;
  for (const p of [pid, ...children]) {
    const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / 100;
}

/** RSS of a process and its direct children (cluster workers). */
function treeRssMiB(pid: number): number {
  const children = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
  return Math.round(([pid, ...children].reduce((sum, p) => sum + rssKiB(p), 0) / 1024) * 10) / 10;
}

interface StartedProxy {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
  readonly dir: string;
  stop(): Promise<void>;
}

/** One proxy with the bench config plus `extra` YAML lines, with both backends registered. */
async function startProxy(name: string, extra: string[], backends: http.Server[]): Promise<StartedProxy> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'waypost-profile-'));
  const port = await freePort();
  const adminPort = await freePort();
  const config = path.join(dir, 'waypost.yaml');
  // A variant's top-level key replaces the bench's own (e.g. `accessLog: "off"`).
  const overridden = new Set(extra.flatMap((yaml) => [...yaml.matchAll(/^(\w+):/gm)].map((m) => m[1]!)));
  writeFileSync(
    config,
    [
      `listen: 127.0.0.1:${port}`,
      `admin: { listen: 127.0.0.1:${adminPort} }`,
      `accessLog: ${accessLog}`,
      'domains: [localhost]',
      `workers: ${workers}`,
      ...(engine ? [`engine: ${engine}`] : []),
      ...(policyDefaults ? [`defaults: ${policyDefaults}`] : []),
      'logLevel: warn',
    ]
      .filter((line) => !overridden.has(line.slice(0, line.indexOf(':'))))
      .concat(extra)
      .join('\n'),
  );
  const nodeArgs = [...(profile ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : []), cli, 'proxy', '--config', config];
  const out = openSync('/dev/null', 'w');
  const command = pin ? 'taskset' : process.execPath;
  const commandArgs = pin ? ['-c', '1', process.execPath, ...nodeArgs] : nodeArgs;
  const proxy: ChildProcess = spawn(command, commandArgs, { stdio: ['ignore', out, 'inherit'] });
  const exited = new Promise<number | null>((resolve) => proxy.once('exit', resolve));
  const stop = async (): Promise<void> => {
    proxy.kill('SIGTERM');
    const code = await exited;
    if (code !== 0) console.log(`${name}: proxy exited with ${code}`);
  };
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${adminPort}/healthz`).catch(() => undefined))?.ok === true);
    for (const [i, server] of backends.entries()) {
      const response = await fetch(`http://127.0.0.1:${adminPort}/v1/services/bench/instances`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: `b${i}`, host: '127.0.0.1', port: (server.address() as AddressInfo).port, ttl: 3600 }),
      });
      if (!response.ok) throw new Error(`register answered ${response.status}`);
    }
    const url = `http://127.0.0.1:${port}${bodySize === 16384 ? '/bytes/16384' : '/'}`;
    await waitFor(async () => (await getStatus(url)) === 200);
    return { name, url, pid: proxy.pid!, dir, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

interface Measurement {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  cpuUs: number;
}

async function measure(proxy: StartedProxy): Promise<Measurement> {
  const cpuBefore = treeCpuSeconds(proxy.pid);
  const result = await autocannon({ url: proxy.url, connections: 64, duration: durationS, headers: loadHeaders });
  const cpuUs = ((treeCpuSeconds(proxy.pid) - cpuBefore) * 1e6) / result.requests.total;
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.non2xx, cpuUs };
}

/** A local OTLP/HTTP sink for traced variants: accepts every export, keeps nothing. */
async function otlpSink(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const middle = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function compareVariants(backends: http.Server[]): Promise<void> {
  const sink = await otlpSink();
  const otlp = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/v1/traces`;
  const proxies: StartedProxy[] = [];
  try {
    for (const variant of variants) {
      const extra = variant.yaml.trim() === '{}' ? [] : [variant.yaml.replaceAll('{otlp}', otlp)];
      proxies.push(await startProxy(variant.name, extra, backends));
    }
    const idle = new Map(proxies.map((p) => [p.name, treeRssMiB(p.pid)]));
    for (const proxy of proxies) await autocannon({ url: proxy.url, connections: 64, duration: 2, headers: loadHeaders });
    const samples = new Map<string, Measurement[]>(proxies.map((p) => [p.name, []]));
    for (let round = 1; round <= rounds; round++) {
      for (const proxy of proxies) {
        const m = await measure(proxy);
        samples.get(proxy.name)!.push(m);
        console.log(`round ${round} ${proxy.name}: ${Math.round(m.rps)} req/s, cpu/req ${m.cpuUs.toFixed(1)} µs, p99 ${m.p99} ms`);
      }
    }
    console.log(`\n| variant | req/s (median) | spread % | CPU µs/req (median) | p99 ms | errors | RSS idle → loaded MiB |`);
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    for (const proxy of proxies) {
      const runs = samples.get(proxy.name)!;
      const rps = runs.map((r) => r.rps);
      const mid = middle(rps);
      const spread = mid > 0 ? ((Math.max(...rps) - Math.min(...rps)) / mid) * 100 : 0;
      console.log(
        `| ${proxy.name} | ${Math.round(mid)} | ${spread.toFixed(0)} | ${middle(runs.map((r) => r.cpuUs)).toFixed(1)} | ${middle(runs.map((r) => r.p99))} | ` +
          `${runs.reduce((sum, r) => sum + r.errors, 0)} | ${idle.get(proxy.name)} → ${treeRssMiB(proxy.pid)} |`,
      );
    }
  } finally {
    await Promise.all(proxies.map((p) => p.stop()));
    sink.close();
  }
}

async function main(): Promise<void> {
  const backends = [await backend(), await backend()];
  try {
    if (variants.length > 0) {
      await compareVariants(backends);
      return;
    }
    const proxy = await startProxy('default', [], backends);
    try {
      const idle = treeRssMiB(proxy.pid);
      await autocannon({ url: proxy.url, connections: 64, duration: 2, headers: loadHeaders });
      const m = await measure(proxy);
      console.log(
        `engine=${engine || 'default'} policy=${policyDefaults || 'none'} body=${bodySize} workers=${workers} log=${accessLog} pinned=${pin} ` +
          `req/s=${Math.round(m.rps)} p50=${m.p50} p99=${m.p99} errors=${m.errors} cpu/req=${m.cpuUs.toFixed(1)}µs rss=${idle}→${treeRssMiB(proxy.pid)} MiB`,
      );
    } finally {
      await proxy.stop();
    }
    if (profile) printProfile(proxy.dir);
  } finally {
    for (const server of backends) server.close();
  }
}

function getStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { headers: { host: 'bench.localhost' }, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
  });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('timed out waiting for the proxy');
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
}

function printProfile(dir: string): void {
  const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
  if (!file) {
    console.log('no .cpuprofile written');
    return;
  }
  const profileData = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { nodes: ProfileNode[] };
  const self = new Map<string, number>();
  let total = 0;
  for (const node of profileData.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    const key = `${functionName || '(anonymous)'} ${url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${lineNumber + 1}`;
    if (functionName === '(idle)') continue;
    self.set(key, (self.get(key) ?? 0) + node.hitCount);
    total += node.hitCount;
  }
  const byFile = new Map<string, number>();
  for (const [key, hits] of self) {
    const file = key.split(' ').slice(1).join(' ').replace(/:\d+$/, '');
    const group = file.startsWith('dist/') ? file : file.startsWith('node_modules/') ? file.split('/').slice(0, 2).join('/') : file || '(native/gc)';
    byFile.set(group, (byFile.get(group) ?? 0) + hits);
  }
  console.log(`profile: ${path.join(dir, file)}`);
  console.log('top self time by function (% of busy time):');
  for (const [key, hits] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 40)) {
    console.log(`  ${((hits / total) * 100).toFixed(1).padStart(5)}%  ${key}`);
  }
  console.log('self time by file (Waypost files and packages):');
  for (const [key, hits] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    console.log(`  ${((hits / total) * 100).toFixed(1).padStart(5)}%  ${key}`);
  }
}

await main();
