/**
 * Child process: the floor undici sets before any Waypost feature. One `Pool` per backend,
 * `pool.stream` straight into the response, round-robin, hop-by-hop headers dropped (undici
 * refuses some of them). Self-contained (plain JavaScript at run time).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

const config = JSON.parse(process.env.BENCH_CHILD_CONFIG ?? '{}') as { backends: number[] };
const pools = config.backends.map((port) => new Pool(`http://127.0.0.1:${port}`));
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);
let next = 0;

function endToEnd(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const kept: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined && !HOP_BY_HOP.has(name)) kept[name] = value;
  }
  return kept;
}

const server = http.createServer({ keepAliveTimeout: 120_000 }, (req, res) => {
  const pool = pools[next]!;
  next = (next + 1) % pools.length;
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool.stream(
    { path: req.url ?? '/', method: req.method as 'GET', headers: endToEnd(req.headers), body: hasBody ? req : null },
    ({ statusCode, headers }) => {
      res.writeHead(statusCode, endToEnd(headers));
      return res;
    },
    (error) => {
      if (!error) return;
      if (!res.headersSent) res.writeHead(502);
      res.end();
    },
  );
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
