/**
 * A real admin server on 127.0.0.1:0 over a real store and mirror, plus a raw
 * node:http client (so tests control content-type, length and body bytes).
 */
import http from 'node:http';
import { AdminServer, type AdminServerOptions } from '../../src/admin/server.js';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import { RegistryMirror } from '../../src/mirror/mirror.js';
import { MemoryStore } from '../../src/registry/memory-store.js';
import type { RegistryStore } from '../../src/registry/store.js';

export interface AdminHarness {
  readonly base: string;
  readonly port: number;
  readonly store: RegistryStore;
  readonly mirror: RegistryMirror;
  readonly metrics: Metrics;
  readonly server: AdminServer;
  call(method: string, path: string, options?: CallOptions): Promise<Reply>;
  close(): Promise<void>;
}

export interface CallOptions {
  /** Sent as JSON with content-type application/json. */
  json?: unknown;
  /** Sent as is (no content-type unless given in headers). */
  raw?: string | Buffer;
  headers?: Record<string, string>;
  token?: string;
  signal?: AbortSignal;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

export async function startAdmin(
  config: ConfigInput = {},
  extra: Partial<Pick<AdminServerOptions, 'healthOf' | 'isReady' | 'extraRoutes'>> & { store?: RegistryStore } = {},
): Promise<AdminHarness> {
  const parsed = configSchema.parse({ ...config, admin: { listen: '127.0.0.1:0', ...config.admin } });
  const store = extra.store ?? new MemoryStore();
  if (!extra.store) await store.start();
  const metrics = new Metrics({ processMetrics: false });
  const mirror = new RegistryMirror({ store, logger: silentLogger, metrics });
  await mirror.start();
  const server = new AdminServer({ config: parsed, store, mirror, metrics, logger: silentLogger, ...extra });
  const { port } = await server.listen();
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    store,
    mirror,
    metrics,
    server,
    call: (method, path, options) => call(port, method, path, options),
    async close() {
      await server.close();
      mirror.close();
      if (!extra.store) await store.close();
    },
  };
}

export function call(port: number, method: string, path: string, options: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  let payload: string | Buffer | undefined = options.raw;
  if (options.json !== undefined) {
    payload = JSON.stringify(options.json);
    headers['content-type'] ??= 'application/json';
  }
  if (payload !== undefined && headers['transfer-encoding'] === undefined) headers['content-length'] ??= String(Buffer.byteLength(payload));
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false, signal: options.signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = undefined;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
      });
      res.on('error', reject);
    });
    // The server may answer (413) and close before the whole body is written.
    req.on('error', reject);
    req.end(payload);
  });
}
