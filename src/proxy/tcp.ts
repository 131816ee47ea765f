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
 *   `retries` times (the shared attempt loop, attempts.ts; the routes come from
 *   routing/tcp-routes.ts); once connected, no retry ever happens (bytes may have flowed).
 * - stream.pipeline both ways: backpressure, half-close (allowHalfOpen on both
 *   sockets) and, when either side errors, both sockets destroyed.
 * - Idle: no byte either way for `timeouts.idle` closes both sockets.
 * - Beyond `maxConnections` a connection is accepted and destroyed at once,
 *   counted and logged.
 */
import net, { type AddressInfo, type Socket } from 'node:net';
import { pipeline } from 'node:stream';
import type { BalancerOptions } from '../balancer/index.js';
import { formatHostPort } from '../net/address.js';
import type { Endpoint, OutcomeListener } from '../endpoint.js';
import type { TcpListenerConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { createConnectionPickContext, type RequestPickContext } from '../routing/pick-context.js';
import type { EndpointSetSource, ServiceSource } from '../routing/service-route.js';
import { TcpRoutes, type TcpRoute } from '../routing/tcp-routes.js';
import { AttemptLoop, Exchange, type AttemptReport } from './attempts.js';
import type { CloseReason, ConnectionTracker, TrackedConnection } from './connection-tracker.js';
import { UpstreamTimeoutError, upstreamErrorReason } from './forwarder.js';
import { ServiceMetricsCache, type ServiceMetrics } from './service-metrics.js';
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

/** One connect attempt: `socket` when connected, `error` when not. */
interface ConnectResult extends AttemptReport {
  readonly socket: Socket | undefined;
}

export class TcpProxyServer {
  readonly #config: TcpListenerConfig;
  readonly #metrics: Metrics;
  readonly #services: ServiceMetricsCache;
  readonly #log: Logger;
  readonly #connections: ConnectionTracker;
  readonly #attempts: AttemptLoop;
  readonly #routes: TcpRoutes;
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
    this.#metrics = options.metrics;
    this.#services = new ServiceMetricsCache(options.metrics);
    this.#log = options.logger.child({ component: 'tcp-proxy' });
    this.#connections = options.connections;
    this.#attempts = new AttemptLoop(options.outcomes);
    this.#routes = new TcpRoutes(options.listener, options.services, options.endpointSets, options.balancerOptions);
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
    let route = this.#routes.default;
    let replay: Buffer | undefined;
    if (this.#config.sniRoutes !== undefined) {
      const peek = await peekServerName(client);
      if (peek.kind !== 'ok') {
        if (peek.kind === 'invalid') this.#log.debug({ listener: this.#label, why: peek.why }, 'no valid TLS ClientHello: connection closed');
        client.destroy();
        return;
      }
      route = this.#routes.forServerName(peek.serverName);
      replay = peek.bytes;
    }

    const ctx = createConnectionPickContext(normalizeIp(client.remoteAddress ?? ''));
    const first = route.pick(ctx);
    const metrics = this.#services.of(route.service);
    if (first !== undefined) {
      const exchange = new TcpConnect(route, ctx, metrics, client, this.#log, this.#label);
      const result = await this.#attempts.run(exchange, first);
      if (result.socket !== undefined) {
        if (result.aborted) result.socket.destroy();
        else this.#bridge(client, result.socket, exchange.endpoint!, metrics, replay);
        return;
      }
    }
    this.#log.debug({ listener: this.#label, service: route.service }, 'no tcp upstream reachable: connection closed');
    client.destroy();
  }

  #bridge(client: Socket, upstream: Socket, endpoint: Endpoint, metrics: ServiceMetrics, replay: Buffer | undefined): void {
    const tunnel = new TcpTunnel(endpoint, client, upstream);
    this.#tunnels.add(tunnel);
    const untrack = this.#connections.add(tunnel);
    let upstreamFailed = false;
    upstream.on('error', (err) => {
      if (upstreamFailed) return;
      upstreamFailed = true;
      metrics.upstreamError(upstreamErrorReason(err)).inc();
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

/**
 * One client connection as the attempt loop drives it. The listener accepts paused and
 * writes nothing upstream before a connect succeeded, so every connect failure left the
 * instance untouched and may be retried elsewhere while the client is still there.
 */
class TcpConnect extends Exchange<ConnectResult> {
  override readonly retryable = anyConnectFailure;

  constructor(
    readonly tcpRoute: TcpRoute,
    ctx: RequestPickContext,
    metrics: ServiceMetrics,
    readonly client: Socket,
    readonly log: Logger,
    readonly listener: string,
  ) {
    // Open tunnels count in stats.inflight through the ConnectionTracker; connects do not.
    super(tcpRoute, ctx, metrics, false);
  }

  canResend(): boolean {
    return !this.client.destroyed;
  }

  send(endpoint: Endpoint): Promise<ConnectResult> {
    return new Promise((resolve) => {
      const socket = net.connect({ host: endpoint.instance.host, port: endpoint.instance.port, allowHalfOpen: true });
      const failed = (err: unknown): void => {
        const error = upstreamErrorReason(err);
        this.log.debug({ listener: this.listener, instance: endpoint.key, reason: error }, 'tcp upstream connect failed');
        resolve({ status: 0, sent: false, error, aborted: false, socket: undefined });
      };
      const onError = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        failed(err);
      };
      const timer = setTimeout(() => {
        socket.off('error', onError);
        socket.on('error', () => {});
        socket.destroy();
        failed(new UpstreamTimeoutError('connect_timeout'));
      }, this.tcpRoute.timeouts.connect);
      socket.on('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        // A client gone meanwhile is an abort: not reported against the instance.
        resolve({ status: 0, sent: false, error: undefined, aborted: this.client.destroyed, socket });
      });
    });
  }
}

function anyConnectFailure(): boolean {
  return true;
}

/** `::ffff:10.0.0.1` → `10.0.0.1`, so hashing is the same on dual-stack listeners. */
function normalizeIp(address: string): string {
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}
