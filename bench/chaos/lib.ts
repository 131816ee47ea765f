/**
 * Shared parts of the chaos scenarios: backend processes (so they can be
 * SIGKILLed), the proxy CLI, sidecars, admin API calls, a Sentinel group and
 * the result shape every scenario returns. Everything listens on 127.0.0.1
 * ephemeral ports and is stopped by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { CLI, ROOT, startProxyProcess, type RunningProxy } from '../../test/helpers/cli.js';

export interface ChaosOptions {
  /** Shorter outages and loads (the test suite and `--quick`). */
  quick: boolean;
  /** Progress lines; silent by default. */
  log?: (line: string) => void;
}

export interface ScenarioResult {
  name: string;
  /** What must hold, in one phrase. */
  expectation: string;
  sent: number;
  failed: number;
  /** Acknowledged registrations missing afterwards; undefined when the scenario makes none. */
  lostRegistrations: number | undefined;
  passed: boolean;
  /** Measured facts beyond the three counts. */
  notes: string[];
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000, stepMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

// ---------------------------------------------------------------- backends

/**
 * The backend child: plain JavaScript run by `node -e` (starts in ~50 ms, no
 * TypeScript loader). Answers 200 with its name; `/healthz` for sidecar checks;
 * on SIGTERM stops accepting, finishes what it has and exits 0.
 */
const BACKEND_SOURCE = `
const http = require('node:http');
const name = process.env.CHAOS_BACKEND_NAME || 'backend';
const delayMs = Number(process.env.CHAOS_BACKEND_DELAY_MS || 0);
const server = http.createServer({ keepAliveTimeout: 65000 }, (req, res) => {
  req.resume();
  const send = () => { res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': name }); res.end(name); };
  if (delayMs > 0 && req.url !== '/healthz') setTimeout(send, delayMs); else send();
});
server.listen(Number(process.env.CHAOS_BACKEND_PORT || 0), '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\\n');
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 5000).unref();
});
`;

export interface BackendProcess {
  readonly name: string;
  readonly port: number;
  readonly address: string;
  readonly pid: number;
  kill(signal: NodeJS.Signals): Promise<void>;
}

export async function startBackendProcess(name: string, options: { delayMs?: number } = {}): Promise<BackendProcess> {
  const child = spawn(process.execPath, ['-e', BACKEND_SOURCE], {
    env: { ...process.env, CHAOS_BACKEND_NAME: name, CHAOS_BACKEND_DELAY_MS: String(options.delayMs ?? 0) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk;
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolve((JSON.parse(line) as { port: number }).port);
    });
    void exited.then(() => reject(new Error(`backend ${name} exited before listening`)));
  });
  return {
    name,
    port,
    address: `127.0.0.1:${port}`,
    pid: child.pid!,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

// ---------------------------------------------------------------- proxy and sidecars

export interface ProxyOptions {
  redisUrl?: string;
  /** A fixed admin port (to poll /readyz while the proxy starts); default any free port. */
  adminPort?: number;
  /** Written to a temp YAML/JSON file and passed as --config. */
  config?: Record<string, unknown>;
}

/** `waypost proxy` as a child process, access log off (the load would flood the pipe). */
export async function startProxy(options: ProxyOptions = {}): Promise<RunningProxy & { pid: number }> {
  const args = ['--listen', '127.0.0.1:0', '--admin', `127.0.0.1:${options.adminPort ?? 0}`];
  if (options.redisUrl) args.push('--redis', options.redisUrl);
  let dir: string | undefined;
  if (options.config) {
    dir = mkdtempSync(path.join(os.tmpdir(), 'waypost-chaos-'));
    const file = path.join(dir, 'waypost.json');
    // YAML is a superset of JSON.
    writeFileSync(file, JSON.stringify(options.config));
    args.push('--config', file);
  }
  try {
    const proxy = await startProxyProcess(args, { env: { WAYPOST_ACCESS_LOG: 'off' }, timeoutMs: 30_000 });
    return Object.assign(proxy, { pid: proxy.child.pid! });
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

export interface Sidecar {
  readonly pid: number;
  readonly output: () => string;
  /** SIGTERM (drain, deregister) and wait for the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, for teardown. */
  kill(): Promise<void>;
}

/** `waypost register …` against the admin API; resolves once started (not yet registered). */
export function startSidecar(args: { service: string; address: string; registry: string; extra?: string[] }): Sidecar {
  const child: ChildProcess = spawn(
    process.execPath,
    [CLI, 'register', '--service', args.service, '--address', args.address, '--registry', args.registry, ...(args.extra ?? [])],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: withoutWaypostEnv() },
  );
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-20_000)));
  child.stderr!.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-20_000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    pid: child.pid!,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

function withoutWaypostEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('WAYPOST_')) delete env[key];
  return env;
}

// ---------------------------------------------------------------- admin API

export interface ApiReply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export function adminCall(adminPort: number, method: string, urlPath: string, json?: unknown): Promise<ApiReply> {
  const payload = json === undefined ? undefined : JSON.stringify(json);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: adminPort,
        method,
        path: urlPath,
        agent: false,
        timeout: 10_000,
        headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c));
        res.on('end', () => {
          let body: unknown;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            body = text;
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('admin call timed out')));
    req.on('error', reject);
    req.end(payload);
  });
}

export function register(adminPort: number, service: string, record: { id?: string; host: string; port: number; ttl?: number }): Promise<ApiReply> {
  return adminCall(adminPort, 'POST', `/v1/services/${service}/instances`, record);
}

/** Ids of the instances the admin API lists for a service, with their status. */
export async function instances(adminPort: number, service: string): Promise<{ id: string; status: string; port: number }[]> {
  const reply = await adminCall(adminPort, 'GET', `/v1/services/${service}`);
  if (reply.status !== 200) return [];
  return (reply.body.instances as { id: string; status: string; port: number }[]).map(({ id, status, port }) => ({ id, status, port }));
}

/** One GET through the proxy on a fresh connection; the status, or 0 on a transport error. */
export function proxyGet(port: number, host: string, urlPath = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, headers: { host }, agent: false, timeout: 15_000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end();
  });
}

/** Resident set size of a process, from /proc (Linux). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

// ---------------------------------------------------------------- Sentinel

export { MASTER_NAME as SENTINEL_MASTER, SentinelProcess, sentinelQuery } from '../../test/helpers/sentinel.js';

/** Percentile of a sorted-on-demand sample. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
