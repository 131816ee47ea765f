/**
 * One GET through the proxy on a fresh connection (no agent: with cluster workers each
 * connection may reach another worker), with the Host header that routes it. fetch() cannot
 * set Host, hence node:http.
 */
import http from 'node:http';

export function statusOf(port: number, host: string, headers: http.OutgoingHttpHeaders = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host, ...headers }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
}
