/**
 * Child process: the two Node HTTP backends every system forwards to. Self-contained (run as
 * plain JavaScript by ProcessGroup.startNodeScript): no relative imports.
 *
 * `GET /bytes/16384` answers with a 16 KiB body, any other path with 100 B. Keep-alive stays on
 * far longer than any run so that proxies keep their upstream connections.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** `tick`: print `{"served": N}` (requests answered so far) four times a second (bench/stability.ts). */
const config = JSON.parse(process.env.BENCH_CHILD_CONFIG ?? '{}') as { count?: number; tick?: boolean };
let served = 0;
const small = Buffer.alloc(100, 'a');
const large = Buffer.alloc(16 * 1024, 'b');

function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
  const body = req.url === '/bytes/16384' ? large : small;
  // Drain any request body so the connection can be reused.
  req.resume();
  served++;
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
}

async function listen(): Promise<number> {
  const server = http.createServer({ keepAliveTimeout: 120_000 }, handle);
  server.headersTimeout = 130_000;
  server.requestTimeout = 0;
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 1024 }, resolve));
  return (server.address() as AddressInfo).port;
}

const ports: number[] = [];
for (let i = 0; i < (config.count ?? 2); i++) ports.push(await listen());
process.stdout.write(`${JSON.stringify({ ready: true, ports })}\n`);
if (config.tick) setInterval(() => process.stdout.write(`${JSON.stringify({ served })}\n`), 250);
process.on('SIGTERM', () => process.exit(0));
