/**
 * WebSocket and TCP through Waypost vs direct.
 *
 *   npx tsx bench/ws-tcp.ts
 *
 * - WebSocket echo round trip: 10 connections, 1,000 sequential 32-byte echoes
 *   each (10,000 in all, the 10 connections run concurrently); p50/p99/mean.
 * - TCP throughput: 100 MiB written to a sink that acknowledges the total when
 *   the client half-closes; MiB/s over the whole transfer, best of 3.
 * The backends and the proxy (a whole WaypostApp, memory store) run in child
 * processes so the load generator does not share their event loop.
 *
 *   (internal) npx tsx bench/ws-tcp.ts backends | proxy WS_PORT TCP_PORT
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net, { type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import WebSocket, { WebSocketServer } from 'ws';
import { WaypostApp } from '../src/app.js';
import { configSchema } from '../src/config/schema.js';
import { silentLogger } from '../src/log.js';

const WS_CONNECTIONS = 10;
const WS_ECHOES_PER_CONNECTION = 1_000;
const TCP_BYTES = 100 * 1024 * 1024;
const TCP_RUNS = 3;

async function runBackends(): Promise<void> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
  const sink = net.createServer({ allowHalfOpen: true }, (socket) => {
    let bytes = 0;
    socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
    socket.on('end', () => socket.end(String(bytes)));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`${(wss.address() as AddressInfo).port} ${(sink.address() as AddressInfo).port}\n`);
}

async function runProxy(wsPort: number, tcpPort: number): Promise<void> {
  const config = configSchema.parse({
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0' },
    accessLog: 'off',
    logLevel: 'silent',
    tcp: [{ listen: '127.0.0.1:0', service: 'sink' }],
  });
  const app = new WaypostApp(Object.freeze(config), { logger: silentLogger });
  await app.start();
  await app.store.register({ service: 'echo', id: 'e', host: '127.0.0.1', port: wsPort });
  await app.store.register({ service: 'sink', id: 's', host: '127.0.0.1', port: tcpPort });
  while (!app.mirror.service('echo') || !app.mirror.service('sink')) await new Promise((r) => setTimeout(r, 5));
  process.stdout.write(`${app.addresses.http[0]!.port} ${app.addresses.tcp[0]!.port}\n`);
}

function child(args: string[]): Promise<{ proc: ChildProcess; ports: number[] }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    proc.once('error', reject);
    proc.once('exit', (code) => reject(new Error(`child ${args[0]} exited with ${code}`)));
    proc.stdout!.once('data', (chunk: Buffer) => resolve({ proc, ports: chunk.toString().trim().split(' ').map(Number) }));
  });
}

async function wsRoundTrips(port: number, host: string): Promise<number[]> {
  const message = Buffer.alloc(32, 'x');
  const samples: number[] = [];
  await Promise.all(
    Array.from({ length: WS_CONNECTIONS }, async () => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { host }, perMessageDeflate: false });
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      for (let i = 0; i < WS_ECHOES_PER_CONNECTION; i++) {
        const started = performance.now();
        await new Promise<void>((resolve) => {
          ws.once('message', () => resolve());
          ws.send(message);
        });
        samples.push(performance.now() - started);
      }
      ws.terminate();
    }),
  );
  return samples.sort((a, b) => a - b);
}

function tcpTransfer(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(64 * 1024, 'y');
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let started = 0;
    let answer = '';
    socket.on('error', reject);
    socket.on('data', (data: Buffer) => (answer += data.toString()));
    socket.on('end', () => {
      const seconds = (performance.now() - started) / 1000;
      if (Number(answer) !== TCP_BYTES) reject(new Error(`sink got ${answer} bytes`));
      else resolve(TCP_BYTES / 1024 / 1024 / seconds);
      socket.destroy();
    });
    socket.once('connect', () => {
      started = performance.now();
      let sent = 0;
      const pump = (): void => {
        while (sent < TCP_BYTES) {
          sent += chunk.length;
          if (!socket.write(chunk)) {
            socket.once('drain', pump);
            return;
          }
        }
        socket.end();
      };
      pump();
    });
  });
}

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function main(): Promise<void> {
  const backends = await child(['backends']);
  const [wsPort, tcpPort] = backends.ports as [number, number];
  const proxy = await child(['proxy', String(wsPort), String(tcpPort)]);
  const [proxyHttp, proxyTcp] = proxy.ports as [number, number];
  try {
    const rows: string[] = ['| path | WS p50 ms | WS p99 ms | WS mean ms | TCP MiB/s (best of 3) |', '| --- | ---: | ---: | ---: | ---: |'];
    for (const [name, ws, tcp, host] of [
      ['direct', wsPort, tcpPort, '127.0.0.1'],
      ['waypost', proxyHttp, proxyTcp, 'echo.localhost'],
    ] as const) {
      await wsRoundTrips(ws, host); // warm-up
      const samples = await wsRoundTrips(ws, host);
      const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
      let best = 0;
      for (let i = 0; i < TCP_RUNS; i++) best = Math.max(best, await tcpTransfer(tcp));
      rows.push(`| ${name} | ${quantile(samples, 0.5).toFixed(3)} | ${quantile(samples, 0.99).toFixed(3)} | ${mean.toFixed(3)} | ${best.toFixed(0)} |`);
    }
    process.stdout.write(`${rows.join('\n')}\n`);
  } finally {
    proxy.proc.kill('SIGTERM');
    backends.proc.kill('SIGTERM');
  }
}

const [mode, a, b] = process.argv.slice(2);
if (mode === 'backends') await runBackends();
else if (mode === 'proxy') await runProxy(Number(a), Number(b));
else await main();
