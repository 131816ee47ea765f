/**
 * Multi-core (issue 21 item 6): Waypost `--workers 2` with node:cluster's round-robin and with
 * SCHED_NONE (kernel-balanced accept) against nginx with 2 workers and HAProxy with nbthread 2,
 * each beside its one-core row, interleaved in rounds. Nothing is pinned: the question is what
 * two cores give when the proxy, wrk and the backends compete for them as they would on a host.
 * Answers "which scheduling should `--workers` default to?" (the faster one).
 * Run: `npx tsx bench/multicore.ts [--rounds N] [--duration S] [--quick]`.
 */
import os from 'node:os';
import { OptionError, positive } from './lib/options.js';
import type { Pinning } from './lib/pin.js';
import { SPREAD_LIMIT_PERCENT } from './lib/rounds.js';
import { publishRoundsReport, type RoundsRow } from './lib/rounds-table.js';
import type { SystemDefinition } from './lib/system.js';
import { direct } from './lib/systems/direct.js';
import { haproxy, haproxySystem } from './lib/systems/haproxy.js';
import { nginx, nginxKeepalive64 } from './lib/systems/nginx.js';
import { ensureWaypostBuilt, startWaypost } from './lib/systems/waypost.js';
import { measureWrkRounds, runWrkBench } from './lib/wrk-rounds.js';

const WRK_THREADS = 2;
const CONNECTIONS = 128;
const UNPINNED: Pinning = { proxyCpu: undefined, loadCpu: undefined, description: 'unpinned: proxy, wrk and backends share every core' };

type Scheduling = 'rr' | 'none';

/** Waypost (the default engine, raw; access log on); `scheduling` = `--workers 2` under that cluster policy. */
function waypostRow(scheduling: Scheduling | undefined): SystemDefinition {
  const suffix = scheduling === undefined ? '' : `-w2-${scheduling}`;
  const how = scheduling === undefined ? '×1' : scheduling === 'rr' ? '×2 workers, round-robin' : '×2 workers, SCHED_NONE';
  return {
    id: `waypost-raw-log${suffix}`,
    label: `Waypost (raw) + access log ${how}`,
    unavailable: () => ensureWaypostBuilt(),
    start: (context) =>
      startWaypost(context, {
        engine: 'raw',
        accessLog: 'stdout',
        ...(scheduling === undefined ? {} : { workers: 2, env: { NODE_CLUSTER_SCHED_POLICY: scheduling } }),
      }),
  };
}

const SYSTEMS: SystemDefinition[] = [
  direct,
  { ...nginxKeepalive64, label: 'nginx ka64 ×1 worker' },
  nginx(64, undefined, 'nginx-ka64-w2', 'nginx ka64 ×2 workers', 2),
  { ...haproxy, label: 'HAProxy nbthread 1' },
  haproxySystem({ h2Clients: false, h2Servers: false }, 'haproxy-t2', 'HAProxy nbthread 2', 2),
  waypostRow(undefined),
  waypostRow('rr'),
  waypostRow('none'),
];

interface Options {
  rounds: number;
  durationSeconds: number;
}

function parse(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const options: Options = quick ? { rounds: 1, durationSeconds: 1 } : { rounds: 5, durationSeconds: 5 };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]!;
    if (name === '--quick') continue;
    if (name !== '--rounds' && name !== '--duration') throw new OptionError(`unknown argument "${name}"`);
    const value = argv[++i];
    if (value === undefined) throw new OptionError(`${name}: missing value`);
    if (name === '--rounds') options.rounds = positive(name, value, true);
    else options.durationSeconds = positive(name, value, true);
  }
  return options;
}

/** Which `--workers 2` scheduling measured faster, and whether the gap is above the noise. */
function schedulingVerdict(rows: RoundsRow[]): string {
  const rr = rows.find((r) => r.system === 'waypost-raw-log-w2-rr');
  const none = rows.find((r) => r.system === 'waypost-raw-log-w2-none');
  if (!rr || !none) return 'round-robin vs SCHED_NONE: not both measured.';
  const [faster, slower] = rr.requestsPerSecond >= none.requestsPerSecond ? [rr, none] : [none, rr];
  const gap = slower.requestsPerSecond > 0 ? (faster.requestsPerSecond / slower.requestsPerSecond - 1) * 100 : 0;
  const noise = Math.max(rr.spreadPercent, none.spreadPercent);
  const within = gap <= noise || noise > SPREAD_LIMIT_PERCENT || rr.rounds < 3;
  return (
    `faster --workers 2 scheduling: ${faster === rr ? 'round-robin' : 'SCHED_NONE'} by ${gap.toFixed(1)} % ` +
    `(spread up to ${noise.toFixed(0)} %, ${rr.rounds} round(s))${within ? ': within the noise, not a verdict' : ''}.`
  );
}

async function main(options: Options): Promise<number> {
  const startedAt = new Date().toISOString();
  const loadAtStart = os.loadavg()[0]!.toFixed(2);
  const settings =
    `wrk -t${WRK_THREADS} -c${CONNECTIONS}, 100 B · ${options.rounds} interleaved round(s) × ${options.durationSeconds} s (+3 s warm-up each) · ` +
    `${UNPINNED.description} · nginx keepalive 64 is per worker`;
  console.log(`bench multicore · ${settings}`);
  const { rows, skipped } = await measureWrkRounds({
    group: 'multicore',
    systems: SYSTEMS,
    pinning: UNPINNED,
    rounds: options.rounds,
    durationSeconds: options.durationSeconds,
    connections: CONNECTIONS,
    threads: WRK_THREADS,
  });
  return publishRoundsReport(
    {
      title: 'Multi-core: Waypost --workers 2 (round-robin, SCHED_NONE) vs nginx ×2 and HAProxy nbthread 2',
      startedAt,
      settings,
      latencyColumns: ['p99 ms', 'p50 ms'],
      references: [{ id: 'nginx-ka64-w2', label: 'nginx×2' }],
      groups: [
        {
          id: 'multicore',
          title: `HTTP/1.1, 100 B, wrk -t${WRK_THREADS} -c${CONNECTIONS}, unpinned`,
          notes: [
            'proxy CPU % and CPU µs/req cover the whole process tree (nginx master + workers, Waypost primary + workers).',
            'round-robin: the primary accepts and passes each connection to a worker; SCHED_NONE: the workers accept on the shared socket and the kernel picks.',
            schedulingVerdict(rows),
          ],
        },
      ],
      rows,
      skipped,
    },
    loadAtStart,
    'multicore',
  );
}

runWrkBench(parse, main);
