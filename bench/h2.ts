/**
 * `npm run bench:h2`: Waypost against nginx, HAProxy and Caddy over HTTP/2 (BENCH.md "HTTP/2 and
 * gRPC rows"): h2c → HTTP/1.1 instances, h2c → h2c instances, gRPC unary. h2load on the load CPU
 * with the backends, each proxy on the other CPU, systems interleaved in rounds (A B C A B C …).
 * Run: `npx tsx bench/h2.ts [--quick] [--help]`. See bench/README.md.
 */
import os from 'node:os';
import { startBackends, startH2Backends, type Backends } from './lib/backends.js';
import { probeGrpc } from './lib/grpc-probe.js';
import { GRPC_HEADERS, runH2Load, writeGrpcRequestBody } from './lib/h2load.js';
import { installMissingPeers } from './lib/install.js';
import { OptionError, positive } from './lib/options.js';
import { choosePinning, hasCommand } from './lib/pin.js';
import { ProcessGroup } from './lib/processes.js';
import { startContenders, type Contender } from './lib/rounds.js';
import { measureGroup, publishRoundsReport, type RoundsRow, type RunFigures } from './lib/rounds-table.js';
import { selectScenarios, type Scenario } from './lib/systems/h2.js';

const USAGE = `npx tsx bench/h2.ts [options]   (npm run bench:h2 -- [options])
  --quick            3 rounds of 1 s per system (under a minute)
  --rounds N         interleaved rounds per scenario (default 5; quick 3)
  --duration S       seconds per measured run, whole seconds (default 5; quick 1)
  --clients N        h2load connections (default 16)
  --streams N        concurrent streams per connection, h2load -m (default 8)
  --scenarios a,b    h2c-h1, h2c-h2c, grpc (default all)
  --no-install       never apt-get install missing peers or h2load
  --no-pin           do not use taskset`;

interface H2Options {
  quick: boolean;
  rounds: number;
  durationSeconds: number;
  clients: number;
  streams: number;
  scenarios: string[] | undefined;
  install: boolean;
  pin: boolean;
}

function parseH2Options(argv: string[]): H2Options {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const [name, inline] = argv[i]!.replace(/^--/, '').split('=', 2) as [string, string | undefined];
    if (!argv[i]!.startsWith('--')) throw new OptionError(`unexpected argument "${argv[i]}"`);
    if (['quick', 'no-install', 'no-pin'].includes(name)) flags.add(name);
    else if (['rounds', 'duration', 'clients', 'streams', 'scenarios'].includes(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new OptionError(`--${name}: missing value`);
      values.set(name, value);
    } else throw new OptionError(`unknown option --${name}`);
  }
  const quick = flags.has('quick');
  const number = (name: string, fallback: number): number => {
    const text = values.get(name);
    return text === undefined ? fallback : positive(`--${name}`, text, true);
  };
  return {
    quick,
    rounds: number('rounds', quick ? 3 : 5),
    durationSeconds: number('duration', quick ? 1 : 5),
    clients: number('clients', 16),
    streams: number('streams', 8),
    scenarios: values.get('scenarios')?.split(',').map((s) => s.trim()).filter(Boolean),
    install: !flags.has('no-install'),
    pin: !flags.has('no-pin'),
  };
}

async function main(): Promise<number> {
  if (process.argv.includes('--help')) {
    console.log(USAGE);
    return 0;
  }
  let options: H2Options;
  let scenarios: Scenario[];
  try {
    options = parseH2Options(process.argv.slice(2));
    scenarios = selectScenarios(options.scenarios);
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  installMissingPeers(options.install, ['nginx', 'haproxy', 'caddy', 'h2load']);
  if (!hasCommand('h2load')) {
    console.log('skip: h2load not found (Debian package nghttp2-client: apt-get install -y nghttp2-client); no HTTP/2 rows measured');
    return 0;
  }
  const startedAt = new Date().toISOString();
  const loadAtStart = os.loadavg()[0]!.toFixed(2);
  const pinning = choosePinning(options.pin);
  const settings = `h2load -t1 -c${options.clients} -m${options.streams} · ${options.rounds} interleaved rounds × ${options.durationSeconds} s (+3 s warm-up each) · ${pinning.description}`;
  console.log(`bench:h2 ${scenarios.map((s) => s.id).join(', ')} · ${settings}`);

  const group = new ProcessGroup();
  const rows: RoundsRow[] = [];
  const skipped: { system: string; reason: string }[] = [];
  try {
    const backends: Record<Scenario['upstream'], Backends> = {
      http1: await startBackends(group, pinning),
      h2c: await startH2Backends(group, pinning),
    };
    const grpcBody = writeGrpcRequestBody(os.tmpdir());
    for (const scenario of scenarios) {
      console.log(`${scenario.id}: ${scenario.title}`);
      const scenarioSkipped: typeof skipped = [];
      const started = await startContenders(scenario.systems, { backends: backends[scenario.upstream], group, pinning }, scenarioSkipped);
      skipped.push(...scenarioSkipped.map((s) => ({ system: `${scenario.id}/${s.system}`, reason: s.reason })));
      try {
        const measure = async ({ running }: Contender, seconds: number): Promise<RunFigures> => {
          const result = await runH2Load(
            {
              port: running.port,
              authority: running.hostHeader,
              path: scenario.path,
              clients: options.clients,
              streams: options.streams,
              durationSeconds: seconds,
              ...(scenario.grpc ? { bodyFile: grpcBody, headers: GRPC_HEADERS } : {}),
            },
            group,
            pinning,
          );
          return { requestsPerSecond: result.requestsPerSecond, latencyMs: result.meanMs, secondLatencyMs: result.maxMs, errors: result.errors, non2xx: result.non2xx };
        };
        const contenders = scenario.grpc ? await answeringGrpc(started.contenders, scenario, grpcBody, skipped) : started.contenders;
        rows.push(...(await measureGroup(scenario.id, contenders, options.rounds, options.durationSeconds, measure)));
      } finally {
        await started.stop();
      }
    }
  } finally {
    await group.stopAll();
  }

  return publishRoundsReport(
    {
      title: 'Waypost HTTP/2 bench',
      startedAt,
      settings,
      latencyColumns: ['mean ms', 'max ms'],
      references: [
        { id: 'nginx', label: 'nginx' },
        { id: 'haproxy', label: 'HAProxy' },
      ],
      groups: scenarios.map((s) => ({ id: s.id, title: s.title, notes: s.notes })),
      rows,
      skipped,
    },
    loadAtStart,
    'h2',
  );
}

/** The contenders whose gRPC call succeeds end to end; the others are skipped with the reason. */
async function answeringGrpc(contenders: Contender[], scenario: Scenario, bodyFile: string, skipped: { system: string; reason: string }[]): Promise<Contender[]> {
  const answering: Contender[] = [];
  for (const contender of contenders) {
    try {
      await probeGrpc(contender.running.port, contender.running.hostHeader, scenario.path, bodyFile);
      answering.push(contender);
    } catch (error) {
      const reason = `gRPC probe failed: ${(error as Error).message}`;
      console.log(`skip ${scenario.id}/${contender.definition.id}: ${reason}`);
      skipped.push({ system: `${scenario.id}/${contender.definition.id}`, reason });
    }
  }
  return answering;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
