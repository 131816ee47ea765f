/**
 * Child process: the floor http-proxy sets before any Waypost feature. One keep-alive agent per
 * backend, round-robin, nothing else. Self-contained (plain JavaScript at run time).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import httpProxy from 'http-proxy';

const config = JSON.parse(process.env.BENCH_CHILD_CONFIG ?? '{}') as { backends: number[] };
const targets = config.backends.map((port) => ({
  target: `http://127.0.0.1:${port}`,
  agent: new http.Agent({ keepAlive: true }),
}));
const proxy = httpProxy.createProxyServer({});
let next = 0;

const server = http.createServer({ keepAliveTimeout: 120_000 }, (req, res) => {
  const target = targets[next]!;
  next = (next + 1) % targets.length;
  proxy.web(req, res, target, () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
