/**
 * Health test parts: backends whose behaviour can be switched (ok / 500 / down)
 * and that count the requests they served, a whole WaypostApp in this process
 * (optionally on an injected clock), and a keep-alive client that sends
 * requests through the real proxy.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WaypostApp } from '../../src/app.js';
import type { Clock } from '../../src/clock.js';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import { waitFor } from '../helpers/wait.js';

/** A registration reaches the app's own mirror within a few ms; polled finely. */
const ROUTED = { timeoutMs: 2000, intervalMs: 5 };

export type BackendMode = 'ok' | 'fail';

export interface SwitchBackend {
  readonly id: string;
  readonly port: number;
  mode: BackendMode;
  /** Requests answered (any status) on the proxied paths (health probes excluded). */
  requests: number;
  close(): Promise<void>;
}

export async function switchBackend(id: string): Promise<SwitchBackend> {
  const sockets = new Set<Socket>();
  const backend = {
    id,
    port: 0,
    mode: 'ok' as BackendMode,
    requests: 0,
    close: (): Promise<void> =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
  const server = http.createServer((req, res) => {
    const status = backend.mode === 'ok' ? 200 : 500;
    if (req.url !== '/healthz') backend.requests++;
    res.writeHead(status, { 'content-type': 'text/plain', 'x-backend': id });
    res.end(id);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  backend.port = (server.address() as AddressInfo).port;
  return backend;
}

export interface HealthApp {
  app: WaypostApp;
  port: number;
  adminUrl: string;
  /** Register and wait until this app's mirror routes on it. */
  register(service: string, backend: SwitchBackend): Promise<void>;
  /** Wait until this app's mirror has `count` instances of `service`. */
  waitForInstances(service: string, count: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startHealthApp(overrides: Partial<ConfigInput>, clock?: Clock): Promise<HealthApp> {
  const config = configSchema.parse({ listen: '127.0.0.1:0', admin: { listen: '127.0.0.1:0' }, accessLog: 'off', ...overrides });
  const app = new WaypostApp(Object.freeze(config), {
    logger: silentLogger,
    metrics: new Metrics({ processMetrics: false }),
    ...(clock ? { clock } : {}),
  });
  try {
    await app.start();
  } catch (err) {
    await app.stop();
    throw err;
  }
  const waitForInstances = async (service: string, count: number): Promise<void> => {
    await waitFor(`${count} ${service} instances in the mirror`, () => (app.mirror.service(service)?.instances.length ?? 0) >= count, ROUTED);
  };
  return {
    app,
    port: app.addresses.http[0]!.port,
    adminUrl: `http://127.0.0.1:${app.addresses.admin.port}`,
    async register(service, backend) {
      await app.store.register({ service, id: backend.id, host: '127.0.0.1', port: backend.port });
      await waitFor(`${backend.id} in the mirror`, () => app.mirror.service(service)?.instances.some((r) => r.id === backend.id), ROUTED);
    },
    waitForInstances,
    stop: () => app.stop(),
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** One GET through the proxy; resolves with the status (0 for a transport error). */
export function hit(port: number, host: string, path = '/'): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { host }, agent }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', () => resolve(0));
    });
    req.once('error', () => resolve(0));
  });
}

/** `n` requests one after the other; returns status → count. */
export async function hitMany(port: number, host: string, n: number): Promise<Record<number, number>> {
  const codes: Record<number, number> = {};
  for (let i = 0; i < n; i++) {
    const status = await hit(port, host);
    codes[status] = (codes[status] ?? 0) + 1;
  }
  return codes;
}

/** Instance id → health as the admin API shows it. */
export async function healthByInstance(adminUrl: string, service: string): Promise<Record<string, string>> {
  const body = (await (await fetch(`${adminUrl}/v1/services/${service}`)).json()) as { instances: { id: string; health: string }[] };
  return Object.fromEntries(body.instances.map((i) => [i.id, i.health]));
}

export function closeAgent(): void {
  agent.destroy();
}
