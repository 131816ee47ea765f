/**
 * Quick HTTP data-path measurement: autocannon (10 s, 64 connections) against a
 * backend directly and through HttpProxyServer with each engine, for 100 B and
 * 16 KiB response bodies. The backend and the proxy run in child processes so
 * the load generator does not share their event loop.
 *
 *   npx tsx bench/quick-proxy.ts            # the table
 *   (internal) npx tsx bench/quick-proxy.ts backend | proxy ENGINE BACKEND_PORT
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { configSchema } from '../src/config/schema.js';
import { silentLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import type { EngineName } from '../src/config/schema.js';
import { HttpProxyServer } from '../src/proxy/http-server.js';
import { StaticRouter } from '../test/helpers/static-router.js';

const SIZES = [100, 16 * 1024];
const DURATION_S = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = 64;

async function runBackend(): Promise<void> {
  const bodies = new Map(SIZES.map((size) => [`/${size}`, Buffer.alloc(size, 'x')]));
  const server = http.createServer((req, res) => {
    const body = bodies.get(req.url ?? '') ?? bodies.get('/100')!;
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
}

async function runProxy(engine: EngineName, backendPort: number): Promise<void> {
  const config = configSchema.parse({ listen: '127.0.0.1:0' });
  const server = new HttpProxyServer({
    config,
    router: new StaticRouter([{ host: 'bench.test', service: 'bench', targets: [`127.0.0.1:${backendPort}`] }]),
    engine,
    metrics: new Metrics({ processMetrics: false }),
    logger: silentLogger,
    // An access-log consumer that does nothing, so the entry is built as in production.
    onAccessLog: () => {},
  });
  const [address] = await server.listen();
  process.stdout.write(`${address!.port}\n`);
}

function child(args: string[]): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    proc.once('error', reject);
    proc.stdout!.once('data', (chunk: Buffer) => resolve({ proc, port: Number(chunk.toString().trim()) }));
  });
}

async function measure(port: number, size: number): Promise<{ rps: number; p99: number; errors: number }> {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/${size}`,
    connections: CONNECTIONS,
    duration: DURATION_S,
    headers: { host: 'bench.test' },
  });
  return { rps: Math.round(result.requests.average), p99: result.latency.p99, errors: result.errors + result.non2xx };
}

async function main(): Promise<void> {
  const backend = await child(['backend']);
  const rows: string[] = ['| target | body | req/s | p99 ms | errors |', '| --- | --- | ---: | ---: | ---: |'];
  try {
    for (const size of SIZES) {
      rows.push(row('direct', size, await measure(backend.port, size)));
      for (const engine of ['http-proxy', 'undici'] as const) {
        const proxy = await child(['proxy', engine, String(backend.port)]);
        try {
          // Warm up pools and JIT before the measured run.
          await autocannon({ url: `http://127.0.0.1:${proxy.port}/${size}`, connections: CONNECTIONS, duration: 1, headers: { host: 'bench.test' } });
          rows.push(row(`waypost ${engine}`, size, await measure(proxy.port, size)));
        } finally {
          proxy.proc.kill('SIGTERM');
        }
      }
    }
  } finally {
    backend.proc.kill('SIGTERM');
  }
  process.stdout.write(`${rows.join('\n')}\n`);
}

function row(target: string, size: number, r: { rps: number; p99: number; errors: number }): string {
  return `| ${target} | ${size === 100 ? '100 B' : '16 KiB'} | ${r.rps} | ${r.p99} | ${r.errors} |`;
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'backend') await runBackend();
else if (mode === 'proxy') await runProxy(rest[0] as EngineName, Number(rest[1]));
else await main();
