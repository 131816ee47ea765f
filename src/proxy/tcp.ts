/**
 * Raw TCP listeners (config `tcp:`): one TcpProxyServer per entry. Each client
 * connection gets one instance of the listener's service (or, with
 * `sniRoutes`, of the service named by the TLS server name, read without
 * terminating TLS), then the bytes are piped both ways untouched.
 *
 * - The listener accepts with `pauseOnConnect`, so bytes the client sends while
 *   we connect upstream wait in the kernel's buffer; nothing is written upstream
 *   until a connect succeeded, which is what makes a connect retry on another
 *   instance safe. Bytes read to peek the SNI name are replayed first.
 * - A failed connect (refused, timeout) is retried on another instance up to
 *   `retries` times; once connected, no retry ever happens (bytes may have flowed).
 * - stream.pipeline both ways: backpressure, half-close (allowHalfOpen on both
 *   sockets) and, when either side errors, both sockets destroyed.
 * - Idle: no byte either way for `timeouts.idle` closes both sockets.
 * - Beyond `maxConnections` a connection is accepted and destroyed at once,
 *   counted and logged.
 */
import net, { type AddressInfo, type Socket } from 'node:net';
import { pipeline } from 'node:stream';
import { createBalancer, type BalancerOptions } from '../balancer/index.js';
import { formatHostPort } from '../net/address.js';
import type { Balancer, PickContext } from '../balancer/policy.js';
import type { Endpoint, OutcomeListener } from '../endpoint.js';
import type { TcpListenerConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Metrics, UpstreamErrorReason } from '../metrics.js';
import type { EndpointSetSource, ServiceSource } from '../routing/table.js';
import type { CloseReason, ConnectionTracker, TrackedConnection } from './connection-tracker.js';
import { upstreamErrorReason } from './forwarder.js';
import { peekServerName } from './sni.js';

/** After close() ends both sides, a peer that does not finish is cut after this. */
const END_GRACE_MS = 1_000;
/** Warn about refused connections at most this often. */
const REJECT_LOG_INTERVAL_MS = 10_000;

export interface TcpProxyServerOptions {
  listener: TcpListenerConfig;
  services: ServiceSource;
  endpointSets: EndpointSetSource;
  metrics: Metrics;
  logger: Logger;
  connections: ConnectionTracker;
  outcomes?: OutcomeListener;
  balancerOptions?: Pick<BalancerOptions, 'random'>;
}

type ConnectResult = { readonly ok: true; readonly socket: Socket } | { readonly ok: false; readonly reason: UpstreamErrorReason };

/** TCP has no headers or cookies: balancers see only the client address. */
class TcpPickContext implements PickContext {
  readonly tried: Endpoint[] = [];
  constructor(readonly clientIp: string) {}
  header(): undefined {
    return undefined;
  }
  cookie(): undefined {
    return undefined;
  }
}

export class TcpProxyServer {
  readonly #config: TcpListenerConfig;
  readonly #services: ServiceSource;
  readonly #endpointSets: EndpointSetSource;
  readonly #metrics: Metrics;
  readonly #log: Logger;
  readonly #connections: ConnectionTracker;
  readonly #outcomes: OutcomeListener | undefined;
  readonly #balancer: Balancer;
  readonly #sniExact = new Map<string, string>();
  /** Key: the suffix with its leading dot (`.example.com` for `*.example.com`). */
  readonly #sniWildcard = new Map<string, string>();
  readonly #server: net.Server;
  readonly #clients = new Set<Socket>();
  readonly #tunnels = new Set<TcpTunnel>();
  #label = '';
  /** Connections refused because the listener was full. */
  rejected = 0;
  #lastRejectLog = 0;
  #closing: Promise<void> | undefined;

  constructor(options: TcpProxyServerOptions) {
    this.#config = options.listener;
    this.#services = options.services;
    this.#endpointSets = options.endpointSets;
    this.#metrics = options.metrics;
    this.#log = options.logger.child({ component: 'tcp-proxy' });
    this.#connections = options.connections;
    this.#outcomes = options.outcomes;
    // Every TCP policy keys on the client IP (the only request attribute TCP has).
    this.#balancer = createBalancer(this.#config.balancer, { ...options.balancerOptions, hashKey: { clientIp: true } });
    for (const [name, service] of Object.entries(this.#config.sniRoutes ?? {})) {
      const host = name.toLowerCase();
      if (host.startsWith('*.')) this.#sniWildcard.set(host.slice(1), service);
      else this.#sniExact.set(host, service);
    }
    this.#server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => this.#onConnection(socket));
  }

  /** `tcp:HOST:PORT` of the bound address: the `listener` label of waypost_active_connections. */
  get label(): string {
    return this.#label;
  }

  /** Client connections open right now. */
  get open(): number {
    return this.#clients.size;
  }

  async listen(): Promise<AddressInfo> {
    const { host, port } = this.#config.listen;
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.#server.on('error', (err) => this.#log.error({ err, listener: this.#label }, 'tcp listener error'));
    const address = this.address();
    this.#label = `tcp:${formatHostPort({ host: address.address, port: address.port })}`;
    this.#metrics.activeConnections.labels(this.#label).set(0);
    return address;
  }

  address(): AddressInfo {
    return this.#server.address() as AddressInfo;
  }

  /** Stop accepting; open connections get `graceMs` to finish, then both sides are ended. */
  close(graceMs: number): Promise<void> {
    this.#closing ??= this.#close(graceMs);
    return this.#closing;
  }

  async #close(graceMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => (this.#server.listening ? this.#server.close(() => resolve()) : resolve()));
    const deadline = Date.now() + graceMs;
    while (this.#clients.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    if (this.#clients.size > 0) this.#log.warn({ listener: this.#label, open: this.#clients.size }, 'grace period over; closing tcp connections');
    for (const tunnel of [...this.#tunnels]) tunnel.close('shutdown');
    const endBy = Date.now() + END_GRACE_MS;
    while (this.#clients.size > 0 && Date.now() < endBy) await new Promise((r) => setTimeout(r, 25));
    for (const socket of this.#clients) socket.destroy();
    await closed;
  }

  #onConnection(client: Socket): void {
    client.on('error', (err) => this.#log.debug({ err, listener: this.#label }, 'tcp client socket error'));
    if (this.#clients.size >= this.#config.maxConnections || this.#closing !== undefined) {
      this.#reject(client);
      return;
    }
    this.#clients.add(client);
    const active = this.#metrics.activeConnections.labels(this.#label);
    active.inc();
    client.once('close', () => {
      this.#clients.delete(client);
      active.dec();
    });
    this.#serve(client).catch((err: unknown) => {
      this.#log.error({ err, listener: this.#label }, 'tcp connection failed unexpectedly');
      client.destroy();
    });
  }

  #reject(client: Socket): void {
    this.rejected++;
    const now = Date.now();
    if (now - this.#lastRejectLog >= REJECT_LOG_INTERVAL_MS) {
      this.#lastRejectLog = now;
      this.#log.warn(
        { listener: this.#label, maxConnections: this.#config.maxConnections, rejected: this.rejected },
        'tcp listener full: connection refused',
      );
    }
    client.destroy();
  }

  async #serve(client: Socket): Promise<void> {
    let service = this.#config.service;
    let replay: Buffer | undefined;
    if (this.#config.sniRoutes !== undefined) {
      const peek = await peekServerName(client);
      if (peek.kind !== 'ok') {
        if (peek.kind === 'invalid') this.#log.debug({ listener: this.#label, why: peek.why }, 'no valid TLS ClientHello: connection closed');
        client.destroy();
        return;
      }
      service = this.#sniService(peek.serverName);
      replay = peek.bytes;
    }

    const ctx = new TcpPickContext(normalizeIp(client.remoteAddress ?? ''));
    let endpoint = this.#pick(service, ctx);
    for (let retries = 0; endpoint !== undefined; ) {
      const result = await connect(endpoint, this.#config.timeouts.connect);
      if (result.ok) {
        if (client.destroyed) {
          result.socket.destroy();
          return;
        }
        this.#outcomes?.onSuccess(endpoint);
        this.#bridge(client, result.socket, endpoint, service, replay);
        return;
      }
      this.#metrics.upstreamErrors.labels(service, result.reason).inc();
      this.#outcomes?.onFailure(endpoint, result.reason);
      this.#log.debug({ listener: this.#label, instance: endpoint.key, reason: result.reason }, 'tcp upstream connect failed');
      ctx.tried.push(endpoint);
      if (retries >= this.#config.retries || client.destroyed) break;
      const next = this.#pick(service, ctx);
      if (next === undefined || ctx.tried.includes(next)) break;
      endpoint = next;
      retries++;
      this.#metrics.retries.labels(service).inc();
    }
    this.#log.debug({ listener: this.#label, service, tried: ctx.tried.length }, 'no tcp upstream reachable: connection closed');
    client.destroy();
  }

  #pick(service: string, ctx: TcpPickContext): Endpoint | undefined {
    const state = this.#services.get(service);
    if (state === undefined) return undefined;
    const set = this.#endpointSets.forService(state);
    return set.endpoints.length === 0 ? undefined : this.#balancer.pick(set, ctx);
  }

  /** Exact name, then the longest `*.suffix`, then the listener's own service. */
  #sniService(name: string | undefined): string {
    if (name === undefined) return this.#config.service;
    const exact = this.#sniExact.get(name);
    if (exact !== undefined) return exact;
    for (let dot = name.indexOf('.'); dot !== -1; dot = name.indexOf('.', dot + 1)) {
      const wildcard = this.#sniWildcard.get(name.slice(dot));
      if (wildcard !== undefined) return wildcard;
    }
    return this.#config.service;
  }

  #bridge(client: Socket, upstream: Socket, endpoint: Endpoint, service: string, replay: Buffer | undefined): void {
    const tunnel = new TcpTunnel(endpoint, client, upstream);
    this.#tunnels.add(tunnel);
    const untrack = this.#connections.add(tunnel);
    let upstreamFailed = false;
    upstream.on('error', (err) => {
      if (upstreamFailed) return;
      upstreamFailed = true;
      this.#metrics.upstreamErrors.labels(service, upstreamErrorReason(err)).inc();
      this.#log.debug({ err, listener: this.#label, instance: endpoint.key }, 'tcp upstream socket error');
    });
    tunnel.start(replay, this.#config.timeouts.idle, () => {
      this.#tunnels.delete(tunnel);
      untrack();
    });
  }
}

/** One connected client↔instance pair. */
class TcpTunnel implements TrackedConnection {
  readonly #client: Socket;
  readonly #upstream: Socket;
  #closing = false;

  constructor(
    readonly endpoint: Endpoint,
    client: Socket,
    upstream: Socket,
  ) {
    this.#client = client;
    this.#upstream = upstream;
  }

  start(replay: Buffer | undefined, idleMs: number, onClosed: () => void): void {
    const client = this.#client;
    const upstream = this.#upstream;
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    if (replay !== undefined) upstream.write(replay);
    const destroyBoth = (): void => {
      client.destroy();
      upstream.destroy();
    };
    // pipeline destroys both streams of a failed direction; the other direction then ends too.
    pipeline(client, upstream, (err) => err && destroyBoth());
    pipeline(upstream, client, (err) => err && destroyBoth());
    // Activity in either direction touches both sockets, so either one timing out means the pair is idle.
    if (idleMs > 0) {
      client.setTimeout(idleMs, destroyBoth);
      upstream.setTimeout(idleMs, destroyBoth);
    }
    let open = 2;
    const onClose = (): void => {
      if (--open === 0) onClosed();
      else destroyBoth(); // one side gone entirely: nothing more can flow
    };
    client.once('close', onClose);
    upstream.once('close', onClose);
    client.resume();
  }

  close(_reason: CloseReason): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#client.end();
    this.#upstream.end();
    setTimeout(() => {
      this.#client.destroy();
      this.#upstream.destroy();
    }, END_GRACE_MS).unref();
  }
}

function connect(endpoint: Endpoint, timeoutMs: number): Promise<ConnectResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: endpoint.instance.host, port: endpoint.instance.port, allowHalfOpen: true });
    const onError = (err: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok: false, reason: upstreamErrorReason(err) });
    };
    const timer = setTimeout(() => {
      socket.off('error', onError);
      socket.on('error', () => {});
      socket.destroy();
      resolve({ ok: false, reason: 'connect_timeout' });
    }, timeoutMs);
    socket.on('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve({ ok: true, socket });
    });
  });
}

/** `::ffff:10.0.0.1` → `10.0.0.1`, so hashing is the same on dual-stack listeners. */
function normalizeIp(address: string): string {
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}
