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
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Endpoint, OutcomeListener } from '../endpoint.js';
import type { WaypostConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { UNROUTED, type Metrics, type UpstreamErrorReason } from '../metrics.js';
import { normalizeHost } from '../routing/match.js';
import { createPickContext } from '../routing/pick-context.js';
import type { RouteMatch, Router } from '../routing/route.js';
import { AttemptLoop } from './attempts.js';
import type { ConnectionTracker } from './connection-tracker.js';
import { upstreamErrorReason } from './forwarder.js';
import { TrustedProxies, clientAddress, headerValue, peerAddress, setForwardedHeaders } from './headers.js';
import { requestIdOf } from '../request-id.js';
import { PROXY_ERRORS, proxyErrorFor, writeRawProxyError, writeRawResponse, type ProxyErrorCode } from './responses.js';
import { ServiceMetricsCache, type ServiceMetrics } from './service-metrics.js';
import { UpgradeLogLine, type AccessLogHook } from './ws-access-log.js';
import { UpgradeExchange, forwardRefusal, type UpgradeResult } from './ws-upgrade.js';
import { WebSocketTunnel } from './ws-tunnel.js';
import type { Tracing } from '../tracing/tracing.js';
import type { PolicyRequest } from '../policy/step.js';

/** RFC 6455 §4.1: base64 of 16 random bytes. */
const WEBSOCKET_KEY = /^[A-Za-z0-9+/]{22}==$/;

export interface WebSocketProxyOptions {
  config: WaypostConfig;
  router: Router;
  metrics: Metrics;
  logger: Logger;
  connections: ConnectionTracker;
  outcomes?: OutcomeListener;
  /** One access-log line per upgrade (ws-access-log.ts says when); undefined = no log, nothing is recorded. */
  onAccessLog?: AccessLogHook | undefined;
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
  readonly #tunnels = new Set<WebSocketTunnel>();
  readonly #onAccessLog: AccessLogHook | undefined;
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
    this.#onAccessLog = options.onAccessLog;
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

  /** An upgrade answered before routing (bad request target, routing loop): counted and logged under `_unrouted` like one no route matches. */
  refuse(req: IncomingMessage, socket: Duplex, code: ProxyErrorCode): void {
    const requestId = requestIdOf(req);
    this.#reject(socket, this.#services.of(UNROUTED), code, requestId, this.#line(req, socket, requestId));
  }

  /** The node:http `upgrade` listener. Never throws; every socket gets an error handler. */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', (err) => this.#log.debug({ err }, 'websocket client socket error'));
    const requestId = requestIdOf(req);
    const line = this.#line(req, socket, requestId);
    this.#upgrade(req, socket, head, requestId, line).catch((err: unknown) => {
      this.#log.error({ err }, 'websocket upgrade failed unexpectedly');
      socket.destroy();
      // Unless it was answered already (its line is written, or will be when its tunnel or refusal ends): the client saw its connection cut.
      if (line?.entry.status === 0) line.write(502, 'upstream_failed');
    });
  };

  /** The upgrade's access-log line, when there is an access log (none is built otherwise). */
  #line(req: IncomingMessage, socket: Duplex, requestId: string): UpgradeLogLine | undefined {
    return this.#onAccessLog === undefined ? undefined : new UpgradeLogLine(this.#onAccessLog, req, socket, requestId);
  }

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, requestId: string, line: UpgradeLogLine | undefined): Promise<void> {
    if (!isValidUpgrade(req)) {
      this.#reject(socket, this.#services.of(UNROUTED), 'bad_upgrade', requestId, line);
      return;
    }
    const url = req.url ?? '/';
    const host = normalizeHost(req.headers.host ?? '');
    const match = this.#router.match(host, url, (name) => headerValue(req.headers, name));
    if (match === undefined) {
      this.#reject(socket, this.#services.of(UNROUTED), 'no_route', requestId, line);
      return;
    }
    if (line !== undefined) {
      line.entry.service = match.service;
      line.entry.routeId = match.routeId;
    }
    const metrics = this.#services.of(match.service);
    if (this.closing) {
      this.#reject(socket, metrics, 'no_healthy_instance', requestId, line);
      return;
    }
    const peer = peerAddress(req);
    const clientIp = clientAddress(req, peer, this.#trusted);
    // The route's request steps (clientCidrs, rateLimit, auth, rewrite…) apply to upgrades as to any request.
    const path = match.policy?.hasSteps !== true ? match.upstreamPath : await this.#admit(match, req, socket, clientIp, host, requestId, metrics, line);
    if (path === undefined) return;
    const ctx = createPickContext(req, clientIp);
    const first = match.pick(ctx);
    if (first === undefined) {
      this.#reject(socket, metrics, 'no_healthy_instance', requestId, line);
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
    if (line !== undefined) {
      line.entry.instance = exchange.endpoint!.key;
      line.entry.retries = exchange.retries;
      line.entry.upstreamMs = result.upstreamMs;
      line.entry.traceId = trace?.traceId;
    }
    let status: number;
    if (result.aborted) {
      // The client left during a retry's backoff: nothing to answer (HTTP logs such a request 499 too).
      status = 499;
      metrics.request(status).inc();
      line?.write(status, 'client_abort');
    } else if (result.error !== undefined) {
      // As for HTTP: the line's error is the upstream's failure, the status the proxy's answer to it.
      if (line !== undefined) line.entry.error = result.error;
      status = this.#reject(socket, metrics, proxyErrorFor(result.error), requestId, line);
    } else if (result.upstream === undefined) {
      status = forwardRefusal(result.res!, socket, requestId, line);
      metrics.request(status).inc();
    } else {
      status = this.#tunnel(socket, head, result, exchange.endpoint!, match, metrics, requestId, line);
      metrics.request(status).inc();
    }
    trace?.end({ routeId: match.routeId, service: match.service, status, protocol: 'websocket', error: result.error, grpcStatus: undefined });
  }

  /** Answers the 101 and relays both ways; the status the client got (499 when it left meanwhile). */
  #tunnel(
    client: Duplex,
    clientHead: Buffer,
    result: UpgradeResult,
    endpoint: Endpoint,
    match: RouteMatch,
    metrics: ServiceMetrics,
    requestId: string,
    line: UpgradeLogLine | undefined,
  ): number {
    const res = result.res!;
    const upstream = result.upstream!;
    if (client.destroyed) {
      upstream.destroy();
      line?.write(499, 'client_abort');
      return 499;
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
    if (line !== undefined) line.entry.status = 101;

    const active = this.#metrics.activeConnections.labels('ws');
    active.inc();
    /** Why the upstream side failed mid-tunnel, if it did: the line's `error`. */
    let upstreamError: UpstreamErrorReason | undefined;
    const tunnel = new WebSocketTunnel(endpoint, client, upstream, () => {
      active.dec();
      this.#tunnels.delete(tunnel);
      untrack();
      if (line !== undefined) {
        line.entry.bytesIn = tunnel.bytesIn;
        line.write(101, upstreamError);
      }
    });
    this.#tunnels.add(tunnel);
    const untrack = this.#connections.add(tunnel);
    upstream.on('error', (err) => {
      upstreamError = upstreamErrorReason(err);
      metrics.upstreamError(upstreamError).inc();
      this.#log.debug({ err, instance: endpoint.key }, 'websocket upstream socket error');
    });
    tunnel.start(result.head!, clientHead);
    return 101;
  }

  /**
   * Runs the route's request steps: the upstream path (after `rewrite`) when the upgrade goes on,
   * undefined when a step answered it on the socket (no ServerResponse exists here).
   */
  async #admit(
    match: RouteMatch,
    req: IncomingMessage,
    socket: Duplex,
    clientIp: string,
    host: string,
    requestId: string,
    metrics: ServiceMetrics,
    line: UpgradeLogLine | undefined,
  ): Promise<string | undefined> {
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
        this.#reject(socket, metrics, code, requestId, line, headers);
      },
      respond: (status, headers, body) => {
        metrics.request(status).inc();
        writeRawResponse(socket, status, { ...headers, 'x-request-id': requestId }, body);
        line?.write(status);
      },
    };
    return (await match.policy!.admit(request)) ? request.upstreamPath : undefined;
  }

  /** A proxy-made error answer: counted, written, logged. Returns its status. */
  #reject(socket: Duplex, metrics: ServiceMetrics, code: ProxyErrorCode, requestId: string, line: UpgradeLogLine | undefined, headers?: OutgoingHttpHeaders): number {
    const { status } = PROXY_ERRORS[code];
    metrics.request(status).inc();
    writeRawProxyError(socket, code, requestId, headers);
    line?.write(status, code);
    return status;
  }
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

