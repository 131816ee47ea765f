/**
 * Shared parts of the WebSocket, TCP and TLS suites: a whole WaypostApp in this
 * process (memory store, real wiring of src/app.ts), WebSocket and TCP echo
 * backends, and throw-away certificates made with openssl at test time.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import net, { type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { WaypostApp } from '../../src/app.js';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import type { RegistrationInput } from '../../src/types.js';

export interface StreamApp {
  app: WaypostApp;
  /** First HTTP listener's port. */
  port: number;
  /** Ports of the tcp listeners, in config order. */
  tcpPorts: number[];
  register(input: RegistrationInput): Promise<string>;
  deregister(service: string, id: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startStreamApp(overrides: Partial<ConfigInput> = {}): Promise<StreamApp> {
  const config = configSchema.parse({
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0' },
    accessLog: 'off',
    timeouts: { grace: '200ms' },
    ...overrides,
  });
  const app = new WaypostApp(Object.freeze(config), { logger: silentLogger, metrics: new Metrics({ processMetrics: false }) });
  try {
    await app.start();
  } catch (err) {
    await app.stop();
    throw err;
  }
  const waitFor = async (done: () => boolean): Promise<void> => {
    for (let i = 0; i < 400 && !done(); i++) await new Promise((r) => setTimeout(r, 5));
  };
  return {
    app,
    port: app.addresses.http[0]!.port,
    tcpPorts: app.addresses.tcp.map((a) => a.port),
    async register(input) {
      const { record } = await app.store.register(input);
      // The mirror applies the change asynchronously; wait until it routes on it.
      await waitFor(() => app.mirror.service(input.service)?.instances.some((r) => r.id === record.id && r.status === record.status) ?? false);
      return record.id;
    },
    async deregister(service, id) {
      await app.store.deregister(service, id);
      await waitFor(() => !(app.mirror.service(service)?.instances.some((r) => r.id === id) ?? false));
    },
    stop: () => app.stop(),
  };
}

export interface WsBackend {
  readonly name: string;
  readonly port: number;
  readonly server: WebSocketServer;
  /** Close codes of connections the backend saw closing. */
  readonly closeCodes: number[];
  close(): Promise<void>;
}

/** A WebSocket echo server that prefixes nothing, but answers "who" with its name. */
export async function startWsBackend(name: string): Promise<WsBackend> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const closeCodes: number[] = [];
  server.on('connection', (ws: WebSocket, req) => {
    ws.on('message', (data, isBinary) => {
      if (!isBinary && data.toString() === 'who') ws.send(name);
      else if (!isBinary && data.toString() === 'proto') ws.send(String(req.headers['x-forwarded-proto']));
      else ws.send(data, { binary: isBinary });
    });
    ws.on('close', (code) => closeCodes.push(code));
    ws.on('error', () => {});
  });
  return {
    name,
    port: (server.address() as AddressInfo).port,
    server,
    closeCodes,
    close: () =>
      new Promise((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}

export interface TcpBackend {
  readonly port: number;
  readonly sockets: Set<Socket>;
  close(): Promise<void>;
}

/** A TCP server; `onSocket` decides what it does (echo by default). */
export async function startTcpBackend(onSocket: (socket: Socket) => void = (s) => s.pipe(s)): Promise<TcpBackend> {
  const sockets = new Set<Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    sockets,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A TLS echo server that first writes its name. */
export async function startTlsBackend(name: string, pair: CertPair): Promise<TcpBackend> {
  const sockets = new Set<Socket>();
  const server = tls.createServer({ cert: pair.cert, key: pair.key }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
    socket.write(`${name}:${socket.servername || ''}\n`);
    socket.pipe(socket);
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    sockets,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface CertPair {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** A scratch directory for certificates, removed by `cleanup`. */
export function certDir(): { dir: string; make(file: string, cn: string, dnsNames: string[]): CertPair; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'waypost-certs-'));
  return {
    dir,
    make: (file, cn, dnsNames) => makeCert(dir, file, cn, dnsNames),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A self-signed P-256 certificate for `cn` with these DNS SANs (openssl, at test time). */
export function makeCert(dir: string, file: string, cn: string, dnsNames: string[]): CertPair {
  const certFile = path.join(dir, `${file}.crt`);
  const keyFile = path.join(dir, `${file}.key`);
  const tmpCert = `${certFile}.new`;
  const tmpKey = `${keyFile}.new`;
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${dnsNames.map((n) => `DNS:${n}`).join(',')}`,
    '-keyout', tmpKey, '-out', tmpCert,
  ], { stdio: 'ignore' });
  // Renamed into place so a watcher never reads a half-written file.
  renameSync(tmpKey, keyFile);
  renameSync(tmpCert, certFile);
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}

export function waitUntil(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = (): void => {
      if (condition()) resolve();
      else if (Date.now() - started > timeoutMs) reject(new Error('condition not met in time'));
      else setTimeout(tick, 10);
    };
    tick();
  });
}
