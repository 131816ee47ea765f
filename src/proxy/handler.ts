/**
 * One HTTP request through the proxy: route → pick → the attempt loop
 * (attempts.ts, with retries and passive-health outcomes), body limits, metrics
 * and the access-log hook.
 * Nothing here touches Redis or scans instances; per-service metric children are
 * cached so a request costs no label lookups.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { OutcomeListener } from '../endpoint.js';
import type { WaypostConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { UNROUTED, UPSTREAM_ERROR_REASONS, type Metrics } from '../metrics.js';
import type { AccessLogEntry } from '../access-log.js';
import { ServiceMetricsCache, type ServiceMetrics } from './service-metrics.js';
import type { RouteMatch, Router } from '../routing/route.js';
import type { ForwardEngine } from './forwarder.js';
import { createPickContext } from '../routing/pick-context.js';
import { AttemptLoop } from './attempts.js';
import { admit } from './admission.js';
import { HttpExchange } from './http-exchange.js';
import {
  RequestIds,
  TrustedProxies,
  clientAddress,
  headerValue,
  peerAddress,
  setForwardedHeaders,
} from './headers.js';
import { isGrpc, parseGrpcTimeout, sendGrpcError } from './grpc.js';
import { PROXY_ERRORS, proxyErrorFor, sendProxyError, type ProxyErrorCode } from './responses.js';
import { planBody, readBody } from './retry.js';
import type { ServerTrace, Tracing } from '../tracing/tracing.js';
import { ProxyPolicyRequest, type PolicyAnswers } from './policy-request.js';
import { arrivedEntry } from './access-log-entry.js';

export interface ProxyHandlerOptions {
  config: WaypostConfig;
  router: Router;
  engine: ForwardEngine;
  metrics: Metrics;
  logger: Logger;
  outcomes?: OutcomeListener;
  onAccessLog?: (entry: AccessLogEntry) => void;
  /** OpenTelemetry tracing; undefined = off (nothing is done per request). */
  tracing?: Tracing | undefined;
}

export class ProxyHandler implements PolicyAnswers {
  readonly #router: Router;
  readonly #engine: ForwardEngine;
  readonly #log: Logger;
  readonly #attempts: AttemptLoop;
  readonly #onAccessLog: ((entry: AccessLogEntry) => void) | undefined;
  readonly #trusted: TrustedProxies;
  readonly #ids = new RequestIds();
  readonly #services: ServiceMetricsCache;
  readonly #retryBufferBytes: number;
  readonly #maxBodyBytes: number;
  readonly #tracing: Tracing | undefined;
  /** Requests being handled right now (graceful stop waits for 0). */
  inflight = 0;
  /** Set when the server stops: responses then ask clients to close their connection. */
  closing = false;

  constructor(options: ProxyHandlerOptions) {
    this.#router = options.router;
    this.#engine = options.engine;
    this.#services = new ServiceMetricsCache(options.metrics);
    this.#log = options.logger;
    this.#attempts = new AttemptLoop(options.outcomes);
    this.#onAccessLog = options.onAccessLog;
    this.#trusted = new TrustedProxies(options.config.trustedProxies);
    this.#retryBufferBytes = options.config.limits.retryBufferBytes;
    this.#maxBodyBytes = options.config.limits.maxBodyBytes;
    this.#tracing = options.tracing;
  }

  /**
   * The node:http request listener. Never throws. Routing is synchronous; only a routed request
   * enters #forward, the one async function (and promise) a request costs here.
   */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.inflight++;
    let forwarding = false;
    try {
      const started = performance.now();
      const socket = countingSocket(req);
      const bytesBefore = socket.bytesWritten;
      const log = this.#entry(req);
      const trace = this.#tracing?.startServer(log.method, log.path, log.host, req.headers);
      if (trace !== undefined) log.traceId = trace.traceId;

      // The router gets the full target: it keeps the query in upstreamPath.
      const match = this.#router.match(log.host, req.url ?? '/', (name) => headerValue(req.headers, name));
      if (match === undefined) {
        log.status = this.#proxyError(req, res, 'no_route', log);
        this.#record(this.#services.of(UNROUTED), log, started, socket, bytesBefore, trace);
        return;
      }
      log.service = match.service;
      log.routeId = match.routeId;
      forwarding = true;
      void this.#forward(req, res, match, this.#services.of(match.service), log, started, socket, bytesBefore, trace);
    } catch (err) {
      this.#failed(err, res);
    } finally {
      if (!forwarding) this.inflight--;
    }
  };

  /**
   * A request answered before routing (a request target it cannot take, a routing loop): logged
   * and counted under `_unrouted` like a request no route matches.
   */
  refuse(req: IncomingMessage, res: ServerResponse, code: ProxyErrorCode, closeConnection: boolean): void {
    const started = performance.now();
    const socket = countingSocket(req);
    const bytesBefore = socket.bytesWritten;
    const log = this.#entry(req);
    log.error = code;
    log.status = this.#sendError(res, code, closeConnection, log);
    this.#record(this.#services.of(UNROUTED), log, started, socket, bytesBefore, undefined);
  }

  /** The access-log entry of a request as it arrived. */
  #entry(req: IncomingMessage): AccessLogEntry {
    return arrivedEntry(req, this.#ids.of(req));
  }

  #failed(err: unknown, res: ServerResponse): void {
    this.#log.error({ err }, 'proxy request failed unexpectedly');
    if (!res.writableEnded) sendProxyError(res, 'upstream_failed');
  }

  /** A routed request, from its policy steps to its answer, then recorded. Never rejects. */
  async #forward(
    req: IncomingMessage,
    res: ServerResponse,
    match: RouteMatch,
    metrics: ServiceMetrics,
    log: AccessLogEntry,
    started: number,
    socket: Socket,
    bytesBefore: number,
    trace: ServerTrace | undefined,
  ): Promise<void> {
    try {
      // Each `break answered` leaves with the request answered (log.status says how).
      answered: {
        const peer = peerAddress(req);
        const clientIp = clientAddress(req, peer, this.#trusted);
        const encrypted = isEncrypted(req);
        let policyRequest: ProxyPolicyRequest | undefined;
        const policy = match.policy;
        // A route whose policy is only attempt-level (retry, concurrency, split) has no steps to give a request object.
        if (policy?.hasSteps === true) {
          // The route's request steps (DESIGN §8 order), before the pick and before the body is read.
          policyRequest = new ProxyPolicyRequest(this, req, res, match, clientIp, log.requestId, log.host, encrypted ? 'https' : 'http', log);
          let admitted = policy.admit(policyRequest);
          if (admitted !== true && admitted !== false) admitted = await admitted;
          if (!admitted) break answered;
        }
        const plan = planBody(req, this.#retryBufferBytes, this.#maxBodyBytes);
        if (plan.kind === 'too_large') {
          log.status = this.#proxyError(req, res, 'body_too_large', log);
          break answered;
        }
        const ctx = createPickContext(req, clientIp);
        // Pick before reading the body: no instance means an immediate 503.
        let endpoint = match.pick(ctx);
        if (endpoint === undefined) {
          log.status = this.#proxyError(req, res, 'no_healthy_instance', log);
          break answered;
        }

        let body: Buffer | undefined;
        let signal: AbortSignal | undefined;
        if (plan.kind === 'buffer') {
          body = await readBody(req, plan.length);
          if (body === undefined) {
            log.error = 'client_abort';
            log.status = 499;
            break answered;
          }
          log.bytesIn = body.length;
        } else if (plan.kind === 'stream') {
          log.bytesIn = plan.length;
          if (plan.length === undefined && this.#maxBodyBytes > 0) signal = this.#limitChunkedBody(req, log);
        }

        // A concurrency limit takes its slot once the body is in: a slow upload holds none.
        const limit = policy?.concurrency;
        if (limit !== undefined) {
          let admitted = admit(endpoint, match, ctx, limit, res);
          if (admitted instanceof Promise) admitted = await admitted;
          if (typeof admitted === 'string') {
            log.error = admitted;
            log.status = admitted === 'overloaded' ? this.#proxyError(req, res, 'overloaded', log) : 499;
            break answered;
          }
          endpoint = admitted;
        }

        setForwardedHeaders(req, peer, this.#trusted, encrypted ? 'https' : 'http', log.requestId);
        const exchange = new HttpExchange(this, this.#engine, req, res, match, ctx, metrics, log.requestId, body, plan.kind === 'stream', signal, policyRequest);
        // A gRPC call's deadline bounds every attempt and travels upstream, reduced by the time spent.
        const grpcTimeout = parseGrpcTimeout(req.headers['grpc-timeout']);
        if (grpcTimeout !== undefined) exchange.deadline = performance.now() + grpcTimeout;
        exchange.trace = trace;
        const result = await this.#attempts.run(exchange, endpoint);
        log.grpcStatus ??= exchange.grpcStatus;
        log.instance = exchange.endpoint!.key;
        log.upstreamMs = result.upstreamMs;
        log.retries = exchange.retries;
        const replayable = exchange.canResend();

        if (signal?.aborted) {
          log.error = 'body_too_large';
          log.status = this.#sendError(res, 'body_too_large', true, log);
        } else if (result.aborted) {
          log.error = 'client_abort';
          log.status = result.sent ? result.status : 499;
        } else if (result.error !== undefined) {
          log.error = result.error;
          log.status = result.sent ? result.status : this.#sendError(res, proxyErrorFor(result.error), !replayable, log);
        } else {
          log.status = result.status;
        }
      }
      this.#record(metrics, log, started, socket, bytesBefore, trace);
    } catch (err) {
      this.#failed(err, res);
    } finally {
      this.inflight--;
    }
  }

  /** Counts a chunked body as it streams; past the limit the attempt is aborted (→ 413). */
  #limitChunkedBody(req: IncomingMessage, log: AccessLogEntry): AbortSignal {
    const controller = new AbortController();
    const limit = this.#maxBodyBytes;
    let seen = 0;
    const onData = (chunk: Buffer): void => {
      seen += chunk.length;
      if (seen > limit) {
        req.off('data', onData);
        controller.abort();
      }
    };
    req.on('data', onData);
    // Listening would start the body flowing before the engine takes it (undici attaches its
    // reader once a connection is ready): chunks read meanwhile would be counted, never sent.
    // Paused, it flows when the engine reads it, to both listeners.
    req.pause();
    req.once('end', () => {
      req.off('data', onData);
      log.bytesIn = seen;
    });
    return controller.signal;
  }

  #proxyError(req: IncomingMessage, res: ServerResponse, code: ProxyErrorCode, log: AccessLogEntry): number {
    log.error = code;
    // An unread body would otherwise be parsed as the next request on this connection.
    return this.#sendError(res, code, this.unreadBody(req), log);
  }

  /** A policy step's refusal (PolicyAnswers): answered and logged like any proxy error. */
  reject(req: IncomingMessage, res: ServerResponse, code: ProxyErrorCode, log: AccessLogEntry): number {
    return this.#proxyError(req, res, code, log);
  }

  /** The request has a body nobody read: answering now must close the connection. */
  unreadBody(req: IncomingMessage): boolean {
    return !req.complete && (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined);
  }

  /**
   * A proxy-made response carrying the request id; while stopping it also closes the connection.
   * A gRPC call gets its answer in gRPC's form (HTTP 200, grpc-status in trailers-only).
   */
  #sendError(res: ServerResponse, code: ProxyErrorCode, closeConnection: boolean, log: AccessLogEntry): number {
    const { status, message } = PROXY_ERRORS[code];
    if (isGrpc(res.req.headers)) {
      log.grpcStatus = sendGrpcError(res, code, status, message, log.requestId);
      return 200;
    }
    if (!res.headersSent) res.setHeader('x-request-id', log.requestId);
    return sendProxyError(res, code, closeConnection || this.closing);
  }

  #record(metrics: ServiceMetrics, log: AccessLogEntry, started: number, socket: Socket, bytesBefore: number, trace: ServerTrace | undefined): void {
    const durationMs = performance.now() - started;
    trace?.end(log);
    if (log.status !== 0) metrics.request(log.status).inc();
    if (log.grpcStatus !== undefined) metrics.grpcResponse(log.grpcStatus).inc();
    metrics.duration.observe(durationMs / 1000);
    // The dashboard's 15-minute series: 5xx answers and upstream failures count as errors.
    if (log.status !== 0) metrics.recordTraffic(durationMs, log.status >= 500 || (log.error !== undefined && UPSTREAM_ERRORS.has(log.error)));
    if (this.#onAccessLog !== undefined) {
      log.durationMs = durationMs;
      log.bytesOut = socket.bytesWritten - bytesBefore;
      this.#onAccessLog(log);
    }
  }
}

/** A response that started fine but whose upstream failed later (a reset mid-body) still counts as an error. */
const UPSTREAM_ERRORS: ReadonlySet<string> = new Set(UPSTREAM_ERROR_REASONS);

function isEncrypted(req: IncomingMessage): boolean {
  return (req.socket as { encrypted?: boolean }).encrypted === true;
}

/**
 * Where a request's written bytes are counted. HTTP/2: req.socket stops answering once the stream
 * closed (bytesWritten reads undefined, logged as NaN), so the session's own socket.
 */
function countingSocket(req: IncomingMessage): Socket {
  return (req as { stream?: { session?: { socket?: Socket } } }).stream?.session?.socket ?? req.socket;
}
