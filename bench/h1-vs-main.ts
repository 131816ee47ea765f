/**
 * HTTP/1.1 through this build against another build (the main branch's), interleaved in rounds:
 * the quick bench's Waypost rows (both engines, access log on) and nginx keepalive 64 as the
 * reference, wrk on the load CPU. Answers "does this branch slow HTTP/1.1 down?" in one run.
 * Run: `npx tsx bench/h1-vs-main.ts [--main-cli PATH] [--engines http-proxy,undici,raw] [--rounds N] [--duration S]
 *   [--body 100|16384] [--node-args "FLAGS"] [--no-pin]`
 * (`--engines`: which Waypost engines to compare; default http-proxy,undici). `--node-args` starts this
 * build's Waypost with those Node/V8 flags (space-separated): with `--main-cli dist/cli.js` the same
 * build runs with and without them, e.g. `--node-args --heap-growing-percent=200 --body 16384`.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bodySize, OptionError, positive, strictFlags } from './lib/options.js';
import { choosePinning } from './lib/pin.js';
import { REPO_ROOT } from './lib/processes.js';
import { publishRoundsReport } from './lib/rounds-table.js';
import type { SystemDefinition } from './lib/system.js';
import { nginxKeepalive64 } from './lib/systems/nginx.js';
import { ensureWaypostBuilt, startWaypost, type WaypostEngine } from './lib/systems/waypost.js';
import { measureWrkRounds, runWrkBench } from './lib/wrk-rounds.js';

const DEFAULT_MAIN_CLI = path.resolve(REPO_ROOT, '..', 'main', 'dist', 'cli.js');

function waypostBuild(engine: WaypostEngine, build: 'this' | 'main', mainCli: string, nodeArgs: string[]): SystemDefinition {
  const flags = build === 'this' && nodeArgs.length > 0 ? ` (${nodeArgs.join(' ')})` : '';
  return {
    id: `waypost-${engine}-log-${build}`,
    label: `Waypost (${engine}) + access log, ${build === 'this' ? 'this branch' : 'main'}${flags}`,
    unavailable: async () =>
      build === 'this' ? ensureWaypostBuilt() : existsSync(mainCli) ? undefined : `${mainCli} missing (build main there first)`,
    start: (context) =>
      startWaypost(context, {
        engine,
        accessLog: 'stdout',
        ...(build === 'main' ? { cli: mainCli } : nodeArgs.length > 0 ? { nodeArgs } : {}),
      }),
  };
}

const ENGINES: readonly WaypostEngine[] = ['http-proxy', 'undici', 'raw'];

interface Options {
  mainCli: string;
  engines: WaypostEngine[];
  rounds: number;
  durationSeconds: number;
  body: 100 | 16384;
  nodeArgs: string[];
  pin: boolean;
}

function parse(argv: string[]): Options {
  const { values, switches } = strictFlags(argv, ['--main-cli', '--engines', '--rounds', '--duration', '--body', '--node-args'], ['--no-pin']);
  const engines = (values.get('--engines') ?? 'http-proxy,undici').split(',').filter(Boolean);
  const unknown = engines.find((engine) => !ENGINES.includes(engine as WaypostEngine));
  if (unknown !== undefined || engines.length === 0) throw new OptionError(`--engines: a list of ${ENGINES.join(', ')}`);
  const rounds = values.get('--rounds');
  const duration = values.get('--duration');
  const nodeArgs = (values.get('--node-args') ?? '').split(' ').filter(Boolean);
  const notFlag = nodeArgs.find((arg) => !arg.startsWith('--'));
  if (notFlag !== undefined) throw new OptionError(`--node-args: Node/V8 flags starting with --, not "${notFlag}"`);
  return {
    mainCli: path.resolve(values.get('--main-cli') ?? DEFAULT_MAIN_CLI),
    engines: engines as WaypostEngine[],
    rounds: rounds ? positive('--rounds', rounds, true) : 5,
    durationSeconds: duration ? positive('--duration', duration, true) : 2,
    body: bodySize('--body', values.get('--body') ?? '100'),
    nodeArgs,
    pin: !switches.has('--no-pin'),
  };
}

async function main(options: Options): Promise<number> {
  const startedAt = new Date().toISOString();
  const loadAtStart = os.loadavg()[0]!.toFixed(2);
  const pinning = choosePinning(options.pin);
  const settings = `wrk -t1 -c64, ${options.body} B · ${options.rounds} interleaved rounds × ${options.durationSeconds} s (+3 s warm-up each) · main = ${options.mainCli} · ${pinning.description}`;
  console.log(`bench h1-vs-main · ${settings}`);
  const systems = [
    nginxKeepalive64,
    ...options.engines.flatMap((engine) => [waypostBuild(engine, 'main', options.mainCli, []), waypostBuild(engine, 'this', options.mainCli, options.nodeArgs)]),
  ];
  const { rows, skipped } = await measureWrkRounds({
    group: 'h1',
    systems,
    pinning,
    rounds: options.rounds,
    durationSeconds: options.durationSeconds,
    connections: 64,
    body: options.body,
  });
  return publishRoundsReport(
    {
      title: 'Waypost HTTP/1.1, this branch vs main',
      startedAt,
      settings,
      latencyColumns: ['p99 ms', 'p50 ms'],
      references: [
        { id: 'nginx-ka64', label: 'nginx(ka64)' },
        ...options.engines.map((engine) => ({ id: `waypost-${engine}-log-main`, label: `main (${engine})` })),
      ],
      groups: [{ id: 'h1', title: `HTTP/1.1, ${options.body} B, wrk -c64`, notes: [] }],
      rows,
      skipped,
    },
    loadAtStart,
    'h1-vs-main',
  );
}

runWrkBench(parse, main);
