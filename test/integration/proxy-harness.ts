/** Starts an HttpProxyServer on 127.0.0.1:0 over a StaticRouter, for the proxy suites. */
import http from 'node:http';
import { configSchema, type ConfigInput, type WaypostConfig } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import { ENGINE_NAMES, type EngineName } from '../../src/config/schema.js';
import type { AccessLogEntry } from '../../src/access-log.js';
import { HttpProxyServer } from '../../src/proxy/http-server.js';
import { StaticRouter, type StaticRoute } from '../helpers/static-router.js';

export const ENGINES: readonly EngineName[] = ENGINE_NAMES;

/** An engine and the HTTP/1.1 server in front of it (config `http1Server`; only the raw engine uses the raw one). */
export interface Serving {
  label: string;
  engine: EngineName;
  http1Server: 'raw' | 'node';
}

/** Every engine, and the raw engine once more behind node:http's server instead of the raw HTTP/1.1 listener. */
export const SERVINGS: readonly Serving[] = [
  ...ENGINE_NAMES.map((engine): Serving => ({ label: `${engine} engine`, engine, http1Server: 'raw' })),
  { label: 'raw engine behind node:http', engine: 'raw', http1Server: 'node' },
];

export interface ProxyHarness {
  server: HttpProxyServer;
  router: StaticRouter;
  metrics: Metrics;
  config: WaypostConfig;
  port: number;
  accessLog: AccessLogEntry[];
  close(graceMs?: number): Promise<void>;
}

export async function startProxy(
  serving: EngineName | Serving,
  routes: StaticRoute[],
  overrides: Partial<ConfigInput> = {},
): Promise<ProxyHarness> {
  const engine = typeof serving === 'string' ? serving : serving.engine;
  const http1Server = typeof serving === 'string' ? {} : { http1Server: serving.http1Server };
  const config = configSchema.parse({ listen: '127.0.0.1:0', ...http1Server, ...overrides });
  const router = new StaticRouter(routes);
  const metrics = new Metrics({ processMetrics: false });
  const accessLog: AccessLogEntry[] = [];
  const server = new HttpProxyServer({
    config,
    router,
    engine,
    metrics,
    logger: silentLogger,
    onAccessLog: (entry) => accessLog.push(entry),
  });
  const [address] = await server.listen();
  return { server, router, metrics, config, port: address!.port, accessLog, close: (graceMs = 0) => server.close(graceMs) };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request through a fresh connection (no agent pooling between tests). */
export function request(
  port: number,
  options: { host: string; path?: string; method?: string; headers?: http.OutgoingHttpHeaders; body?: Buffer | string },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: options.path ?? '/',
        method: options.method ?? 'GET',
        headers: { host: options.host, ...options.headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

export function json<T = Record<string, unknown>>(reply: Reply): T {
  return JSON.parse(reply.body.toString()) as T;
}
