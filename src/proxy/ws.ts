/**
 * WebSocket upgrades: routed exactly like HTTP requests (host, path, headers,
 * the route's balancer including sticky cookies and consistent hashing), then
 * tunnelled byte for byte.
 *
 * Why our own forwarding rather than http-proxy's `ws` path: we need (a) a
 * connect timeout and a retry of a failed connect on another instance, (b) the
 * backend's refusal (403, 200 without upgrade…) forwarded as its own status,
 * (c) the upstream socket in hand to track it per instance and (d) a relay that
 * knows frame boundaries, so draining and shutdown can send a clean close frame
 * (1001) without cutting a relayed frame in half. node:http's client parses the
 * upstream's answer; after the 101 both sockets are relayed with backpressure.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Endpoint, OutcomeListener } from '../endpoint.js';
import type { WaypostConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { UNROUTED, type Metrics } from '../metrics.js';
import { normalizeHost } from '../routing/match.js';
import { createPickContext } from '../routing/pick-context.js';
import type { RouteMatch, Router } from '../routing/route.js';
import { AttemptLoop } from './attempts.js';
import type { CloseReason, ConnectionTracker, TrackedConnection } from './connection-tracker.js';
import { upstreamErrorReason } from './forwarder.js';
import { RequestIds, TrustedProxies, clientAddress, clientResponseHead, headerValue, peerAddress, setForwardedHeaders } from './headers.js';
import { PROXY_ERRORS, proxyErrorFor, writeRawProxyError, writeRawResponse, type ProxyErrorCode } from './responses.js';
import { ServiceMetricsCache, type ServiceMetrics } from './service-metrics.js';
import { UpgradeExchange, type UpgradeResult } from './ws-upgrade.js';
import { CLOSE_GOING_AWAY, FrameScanner, closeFrame } from './ws-frames.js';
import type { Tracing } from '../tracing/tracing.js';
import type { PolicyRequest } from '../policy/step.js';
import type { ServerResponse } from 'node:http';

/** After our close frame, the closing handshake gets this long before both sockets are cut. */
const CLOSE_HANDSHAKE_MS = 2_000;
/** RFC 6455 §4.1: base64 of 16 random bytes. */
const WEBSOCKET_KEY = /^[A-Za-z0-9+/]{22}==$/;

export interface WebSocketProxyOptions {
  config: WaypostConfig;
  router: Router;
  metrics: Metrics;
  logger: Logger;
  connections: ConnectionTracker;
  outcomes?: OutcomeListener;
  /** OpenTelemetry tracing; undefined = off. */
  tracing?: Tracing | undefined;
}

export class WebSocketProxy {
  readonly #router: Router;
  readonly #metrics: Metrics;
  readonly #services: ServiceMetricsCache;
  readonly #log: Logger;
  readonly #connections: ConnectionTracker;
  readonly #attempts: AttemptLoop;
  readonly #trusted: TrustedProxies;
  readonly #ids = new RequestIds();
  readonly #tunnels = new Set<WebSocketTunnel>();
  readonly #tracing: Tracing | undefined;
  /** Set on graceful stop: new upgrades get 503. */
  closing = false;

  constructor(options: WebSocketProxyOptions) {
    this.#router = options.router;
    this.#metrics = options.metrics;
    this.#services = new ServiceMetricsCache(options.metrics);
    this.#log = options.logger.child({ component: 'ws-proxy' });
    this.#connections = options.connections;
    this.#attempts = new AttemptLoop(options.outcomes);
    this.#trusted = new TrustedProxies(options.config.trustedProxies);
    this.#tracing = options.tracing;
  }

  /** Upgraded WebSockets open right now (through this proxy). */
  get open(): number {
    return this.#tunnels.size;
  }

  /** Graceful stop, after the grace period: every open WebSocket gets a close frame (1001), then ends. */
  closeAll(): void {
    for (const tunnel of [...this.#tunnels]) tunnel.close('shutdown');
  }

  /** The node:http `upgrade` listener. Never throws; every socket gets an error handler. */
  /** An upgrade answered before routing (bad request target, routing loop): counted under `_unrouted` like one no route matches. */
  refuse(req: IncomingMessage, socket: Duplex, code: ProxyErrorCode): void {
    this.#reject(socket, this.#services.of(UNROUTED), code, this.#ids.of(req));
  }

  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', (err) => this.#log.debug({ err }, 'websocket client socket error'));
    this.#upgrade(req, socket, head).catch((err: unknown) => {
      this.#log.error({ err }, 'websocket upgrade failed unexpectedly');
      socket.destroy();
    });
  };

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const requestId = this.#ids.of(req);
    if (!isValidUpgrade(req)) {
      this.#reject(socket, this.#services.of(UNROUTED), 'bad_upgrade', requestId);
      return;
    }
    const url = req.url ?? '/';
    const host = normalizeHost(req.headers.host ?? '');
    const match = this.#router.match(host, url, (name) => headerValue(req.headers, name));
    if (match === undefined) {
      this.#reject(socket, this.#services.of(UNROUTED), 'no_route', requestId);
      return;
    }
    const metrics = this.#services.of(match.service);
    if (this.closing) {
      this.#reject(socket, metrics, 'no_healthy_instance', requestId);
      return;
    }
    const peer = peerAddress(req);
    const clientIp = clientAddress(req, peer, this.#trusted);
    // The route's request steps (clientCidrs, rateLimit, auth, rewrite…) apply to upgrades as to any request.
    const path = match.policy?.hasSteps !== true ? match.upstreamPath : await this.#admit(match, req, socket, clientIp, host, requestId, metrics);
    if (path === undefined) return;
    const ctx = createPickContext(req, clientIp);
    const first = match.pick(ctx);
    if (first === undefined) {
      this.#reject(socket, metrics, 'no_healthy_instance', requestId);
      return;
    }

    const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
    setForwardedHeaders(req, peer, this.#trusted, encrypted ? 'https' : 'http', requestId);
    // setForwardedHeaders strips hop-by-hop headers; the upgrade pair is exactly what this hop needs.
    const headers = { ...req.headers, connection: 'Upgrade', upgrade: 'websocket' };
    const exchange = new UpgradeExchange(match, ctx, metrics, socket, headers, path);
    // The upgrade's span covers the handshake (up to the 101 or the refusal), not the tunnel's life.
    const trace = this.#tracing?.startServer('GET', url, host, req.headers);
    exchange.trace = trace;
    const result = await this.#attempts.run(exchange, first);
    let status: number;
    if (result.error !== undefined) {
      status = this.#reject(socket, metrics, proxyErrorFor(result.error), requestId);
    } else if (result.upstream === undefined) {
      status = result.status;
      metrics.request(status).inc();
      forwardRefusal(result.res!, socket, requestId);
    } else {
      status = 101;
      metrics.request(101).inc();
      this.#tunnel(socket, head, result, exchange.endpoint!, match, metrics, requestId);
    }
    trace?.end({ routeId: match.routeId, service: match.service, status, protocol: 'websocket', error: result.error, grpcStatus: undefined });
  }

  #tunnel(
    client: Duplex,
    clientHead: Buffer,
    result: UpgradeResult,
    endpoint: Endpoint,
    match: RouteMatch,
    metrics: ServiceMetrics,
    requestId: string,
  ): void {
    const res = result.res!;
    const upstream = result.upstream!;
    if (client.destroyed) {
      upstream.destroy();
      return;
    }
    let responseHead = `HTTP/1.1 101 ${res.statusMessage || 'Switching Protocols'}\r\n`;
    const raw = res.rawHeaders;
    let hasRequestId = false;
    for (let i = 0; i < raw.length; i += 2) {
      responseHead += `${raw[i]}: ${raw[i + 1]}\r\n`;
      hasRequestId ||= raw[i]!.toLowerCase() === 'x-request-id';
    }
    // As on every HTTP response (DESIGN §5), unless the upstream answered with its own.
    if (!hasRequestId) responseHead += `x-request-id: ${requestId}\r\n`;
    // Sticky routes pin the client with a cookie on the 101, as on any response.
    match.onResponse?.(endpoint, (name, value) => (responseHead += `${name}: ${value}\r\n`));
    client.write(`${responseHead}\r\n`);

    const active = this.#metrics.activeConnections.labels('ws');
    active.inc();
    const tunnel = new WebSocketTunnel(endpoint, client, upstream, () => {
      active.dec();
      this.#tunnels.delete(tunnel);
      untrack();
    });
    this.#tunnels.add(tunnel);
    const untrack = this.#connections.add(tunnel);
    upstream.on('error', (err) => {
      metrics.upstreamError(upstreamErrorReason(err)).inc();
      this.#log.debug({ err, instance: endpoint.key }, 'websocket upstream socket error');
    });
    tunnel.start(result.head!, clientHead);
  }

  /**
   * Runs the route's request steps: the upstream path (after `rewrite`) when the upgrade goes on,
   * undefined when a step answered it on the socket (no ServerResponse exists here).
   */
  async #admit(match: RouteMatch, req: IncomingMessage, socket: Duplex, clientIp: string, host: string, requestId: string, metrics: ServiceMetrics): Promise<string | undefined> {
    const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
    const request: PolicyRequest = {
      req,
      res: undefined as unknown as ServerResponse,
      clientIp,
      requestId,
      host,
      service: match.service,
      routeId: match.routeId,
      scheme: encrypted ? 'https' : 'http',
      upstreamPath: match.upstreamPath,
      instance: '',
      reject: (code, headers) => {
        this.#reject(socket, metrics, code, requestId, headers);
      },
      respond: (status, headers, body) => {
        metrics.request(status).inc();
        writeRawResponse(socket, status, { ...headers, 'x-request-id': requestId }, body);
      },
    };
    return (await match.policy!.admit(request)) ? request.upstreamPath : undefined;
  }

  #reject(socket: Duplex, metrics: ServiceMetrics, code: ProxyErrorCode, requestId: string, headers?: OutgoingHttpHeaders): number {
    const { status } = PROXY_ERRORS[code];
    metrics.request(status).inc();
    writeRawProxyError(socket, code, requestId, headers);
    return status;
  }
}

/**
 * One upgraded connection: relays both ways with backpressure, scans the
 * upstream→client direction for frame boundaries, and on close(reason) sends
 * the client a 1001 close frame at the next boundary, then ends.
 */
class WebSocketTunnel implements TrackedConnection {
  readonly #client: Duplex;
  readonly #upstream: Socket;
  readonly #scanner = new FrameScanner();
  readonly #onClosed: () => void;
  /** close() was called: waiting for a frame boundary to send our close frame. */
  #closing = false;
  #closeSent = false;
  #finished = false;

  constructor(
    readonly endpoint: Endpoint,
    client: Duplex,
    upstream: Socket,
    onClosed: () => void,
  ) {
    this.#client = client;
    this.#upstream = upstream;
    this.#onClosed = onClosed;
  }

  start(upstreamHead: Buffer, clientHead: Buffer): void {
    const client = this.#client;
    const upstream = this.#upstream;
    // Long-lived by design: no idle timeout here (applications keep WebSockets alive with pings).
    (client as Partial<Socket>).setTimeout?.(0);
    (client as Partial<Socket>).setNoDelay?.(true);
    upstream.setTimeout(0);
    upstream.setNoDelay(true);

    upstream.on('data', this.#fromUpstream);
    client.on('drain', () => upstream.resume());
    client.on('data', (chunk: Buffer) => {
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    // Half-close travels through; the WebSocket closing handshake finishes the rest.
    client.on('end', () => upstream.end());
    upstream.on('end', () => {
      if (!this.#closing) client.end();
    });
    const finish = (): void => this.#finish();
    client.on('close', finish);
    upstream.on('close', finish);
    client.on('error', finish);
    upstream.on('error', finish);

    if (upstreamHead.length > 0) this.#fromUpstream(upstreamHead);
    if (clientHead.length > 0) upstream.write(clientHead);
    client.resume();
  }

  close(_reason: CloseReason): void {
    if (this.#closing || this.#finished) return;
    this.#closing = true;
    if (this.#scanner.atBoundary) this.#sendClose();
    // A peer that never answers the closing handshake (or a frame that never ends) is cut.
    setTimeout(() => this.#finish(), CLOSE_HANDSHAKE_MS).unref();
  }

  readonly #fromUpstream = (chunk: Buffer): void => {
    if (this.#closeSent) return; // after our close frame nothing more may reach the client
    if (!this.#closing) {
      this.#scanner.feed(chunk);
      if (!this.#client.write(chunk)) this.#upstream.pause();
      return;
    }
    // Finish the frame under way, then close.
    const n = this.#scanner.feed(chunk, true);
    if (n > 0) this.#client.write(chunk.subarray(0, n));
    if (this.#scanner.atBoundary) this.#sendClose();
  };

  #sendClose(): void {
    this.#closeSent = true;
    // The client answers with its own close frame, which still flows upstream, then ends the TCP connection.
    this.#client.end(closeFrame(CLOSE_GOING_AWAY, 'going away', false));
    this.#upstream.resume();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#client.destroy();
    this.#upstream.destroy();
    this.#onClosed();
  }
}

/** The backend answered without switching protocols: its status, headers and body go to the client. */
function forwardRefusal(res: IncomingMessage, socket: Duplex, requestId: string): void {
  let head = `HTTP/1.1 ${res.statusCode ?? 502} ${res.statusMessage ?? ''}\r\n`;
  const headers = clientResponseHead(res.rawHeaders, requestId);
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]!}: ${headers[i + 1]!}\r\n`;
  // Without transfer-encoding (decoded by node:http), the body ends when the connection does.
  head += 'connection: close\r\n\r\n';
  socket.write(head);
  res.on('error', () => socket.destroy());
  res.on('end', () => {
    socket.end();
    res.socket?.destroy();
  });
  res.pipe(socket, { end: false });
}

function isValidUpgrade(req: IncomingMessage): boolean {
  const { headers } = req;
  return (
    req.method === 'GET' &&
    headers.upgrade?.toLowerCase() === 'websocket' &&
    typeof headers['sec-websocket-key'] === 'string' &&
    WEBSOCKET_KEY.test(headers['sec-websocket-key']) &&
    headers['sec-websocket-version'] === '13'
  );
}

