/**
 * Waypost itself, started from its CLI like any peer: `node dist/cli.js proxy --config FILE`.
 * The route comes from the host convention (`bench.localhost`, the default domain), the two
 * backends are registered through the admin API, and the rows differ in engine and access log
 * (`stdout` into /dev/null is the feature-on row: routing, balancer, metrics and a log line each).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../../../test/helpers/ports.js';
import { REPO_ROOT, sleep, waitForPort } from '../processes.js';
import type { RunningSystem, SystemContext, SystemDefinition } from '../system.js';

export type WaypostEngine = 'http-proxy' | 'undici' | 'raw';

const SERVICE = 'bench';
const HOST_HEADER = `${SERVICE}.localhost`;
const CLI = path.join(REPO_ROOT, 'dist', 'cli.js');
const CLI_SOURCE = path.join(REPO_ROOT, 'src', 'cli.ts');

let buildResult: Promise<string | undefined> | undefined;
/** Set when the CLI cannot even listen: every Waypost row would fail the same way. */
let cannotStart: string | undefined;

/**
 * Build once per bench run when the CLI source exists and dist/cli.js is missing or older.
 * tsc still emits when another helper's file has a type error; that is good enough to measure.
 */
export function ensureWaypostBuilt(): Promise<string | undefined> {
  buildResult ??= (async () => {
    if (!existsSync(CLI_SOURCE) && !existsSync(CLI)) return 'Waypost CLI not written yet (no src/cli.ts, no dist/cli.js)';
    const stale = existsSync(CLI_SOURCE) && (!existsSync(CLI) || sourcesNewerThanCli());
    if (stale && process.env.BENCH_NO_BUILD !== '1') {
      console.log('building Waypost: npx tsc -p tsconfig.build.json');
      const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 180_000 });
      if (build.status !== 0) console.log(`build reported errors (using whatever it emitted):\n${(build.stdout ?? '').split('\n').slice(0, 5).join('\n')}`);
    }
    return existsSync(CLI) ? undefined : 'dist/cli.js missing after the build';
  })();
  return buildResult;
}

function sourcesNewerThanCli(): boolean {
  const found = spawnSync('find', [path.join(REPO_ROOT, 'src'), '-name', '*.ts', '-newer', CLI], { encoding: 'utf8' });
  return found.stdout.trim() !== '';
}

export interface WaypostOptions {
  /** undefined = the config default. */
  engine?: WaypostEngine | undefined;
  accessLog: 'off' | 'stdout';
  /** Extra config fields (the leak script and experiments). */
  extra?: Record<string, unknown>;
  /** Registered instance protocol (DESIGN §8); undefined = the default, http1. */
  instanceProtocol?: 'h2c';
  /** Another build's CLI (bench/h1-vs-main.ts); undefined = this worktree's dist/cli.js. */
  cli?: string;
  /** `--workers N` (bench/multicore.ts); undefined = the config default, one process. */
  workers?: number;
  /** Added to the CLI's environment (NODE_CLUSTER_SCHED_POLICY in bench/multicore.ts). */
  env?: NodeJS.ProcessEnv;
  /** Node and V8 flags before the CLI (bench/allocations.ts: a fixed semi-space size). */
  nodeArgs?: string[];
}

/** Start Waypost, register the backends and wait until a request through it answers 200. */
export async function startWaypost(context: SystemContext, options: WaypostOptions): Promise<RunningSystem> {
  const port = await freePort();
  const adminPort = await freePort();
  const configPath = path.join(context.tmpDir, 'waypost.yaml');
  writeFileSync(
    configPath,
    stringify({
      listen: `127.0.0.1:${port}`,
      admin: { listen: `127.0.0.1:${adminPort}` },
      ...(options.engine === undefined ? {} : { engine: options.engine }),
      accessLog: options.accessLog,
      ...(options.workers === undefined ? {} : { workers: options.workers }),
      domains: ['localhost'],
      ...options.extra,
    }),
  );
  // The access log goes to /dev/null: the proxy pays for each line, the disk does not.
  const devNull = options.accessLog === 'stdout' ? openSync('/dev/null', 'w') : undefined;
  const started = context.group.start('waypost', process.execPath, [...(options.nodeArgs ?? []), options.cli ?? CLI, 'proxy', '--config', configPath], {
    cpu: context.pinning.proxyCpu,
    stdout: devNull ?? 'pipe',
    ...(options.env === undefined ? {} : { env: { ...process.env, ...options.env } }),
  });
  if (devNull !== undefined) closeSync(devNull);
  try {
    try {
      await waitForPort(adminPort, 20_000, started);
      await waitForPort(port, 10_000, started);
    } catch (error) {
      // Not listening is the same for every engine and log setting: skip the other rows at once.
      cannotStart = `the CLI does not start a listener: ${firstLine(error)}`;
      throw error;
    }
    for (const [index, backend] of context.backends.ports.entries()) {
      const protocol = options.instanceProtocol === undefined ? {} : { protocol: options.instanceProtocol };
      await register(adminPort, { id: `bench-${index + 1}`, host: '127.0.0.1', port: backend, ttl: 3600, ...protocol });
    }
    await waitUntilRouted(port, 10_000);
  } catch (error) {
    await context.group.stop(started);
    throw error;
  }
  return { port, adminPort, hostHeader: HOST_HEADER, pid: started.pid, stop: () => context.group.stop(started) };
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 300);
}

async function register(adminPort: number, instance: Record<string, unknown>): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${adminPort}/v1/services/${SERVICE}/instances`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(instance),
  });
  if (response.status !== 201 && response.status !== 200) {
    throw new Error(`registering ${JSON.stringify(instance)} answered ${response.status}: ${await response.text()}`);
  }
}

async function waitUntilRouted(port: number, timeoutMs: number): Promise<void> {
  const http = await import('node:http');
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const status = await new Promise<number>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host: HOST_HEADER }, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', () => resolve(0));
    });
    if (status === 200) return;
    last = String(status);
    await sleep(100);
  }
  throw new Error(`Waypost did not route ${HOST_HEADER} to the backends within ${timeoutMs} ms (last status ${last})`);
}

function waypost(engine: WaypostEngine, accessLog: 'off' | 'stdout'): SystemDefinition {
  const suffix = accessLog === 'stdout' ? ' + access log' : '';
  return {
    id: `waypost-${engine}${accessLog === 'stdout' ? '-log' : ''}`,
    label: `Waypost (${engine})${suffix}`,
    unavailable: async () => (await ensureWaypostBuilt()) ?? cannotStart,
    start: (context) => startWaypost(context, { engine, accessLog }),
  };
}

export const waypostHttpProxy = waypost('http-proxy', 'off');
export const waypostUndici = waypost('undici', 'off');
export const waypostHttpProxyLog = waypost('http-proxy', 'stdout');
export const waypostUndiciLog = waypost('undici', 'stdout');
export const waypostRaw = waypost('raw', 'off');
export const waypostRawLog = waypost('raw', 'stdout');
