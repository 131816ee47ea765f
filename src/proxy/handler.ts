/**
 * One HTTP request through the proxy: route → pick → the attempt loop
 * (attempts.ts, with retries and passive-health outcomes), body limits, metrics
 * and the access-log hook.
 * Nothing here touches Redis or scans instances; per-service metric children are
 * cached so a request costs no label lookups.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Endpoint, OutcomeListener } from '../endpoint.js';
import type { WaypostConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { UNROUTED, type Metrics } from '../metrics.js';
import type { AccessLogEntry } from '../access-log.js';
import { ServiceMetricsCache, type ServiceMetrics } from './service-metrics.js';
import type { RouteMatch, Router } from '../routing/route.js';
import type { AttemptResult, ForwardEngine } from './forwarder.js';
import { createPickContext, type RequestPickContext } from '../routing/pick-context.js';
import { AttemptLoop } from './attempts.js';
import { admit } from './admission.js';
import { HttpExchange } from './http-exchange.js';
import {
  TrustedProxies,
  clientAddress,
  headerValue,
  peerAddress,
  setForwardedHeaders,
} from './headers.js';
import { isGrpc, parseGrpcTimeout, sendGrpcError } from './grpc.js';
import { PROXY_ERRORS, proxyErrorFor, sendProxyError, type ProxyErrorCode } from './responses.js';
import { planBody, readBody, type BodyPlan } from './retry.js';
import type { Tracing } from '../tracing/tracing.js';
import { ProxyPolicyRequest, type PolicyAnswers } from './policy-request.js';
import { arrivedEntry } from './access-log-entry.js';
import { RequestRecord } from './request-record.js';
import { clientRequestId, generatedRequestId, nextRequestSequence } from '../request-id.js';
import { skipDrainOfEmptyBody } from './bodyless.js';

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
  readonly #services: ServiceMetricsCache;
  readonly #retryBufferBytes: number;
  readonly #maxBodyBytes: number;
  readonly #tracing: Tracing | undefined;
  /** The headers of the request being routed: match() reads them synchronously, so one function serves every request. */
  #routedHeaders: IncomingHttpHeaders | undefined;
  readonly #routedHeader = (name: string): string | undefined => headerValue(this.#routedHeaders!, name);
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
   * The node:http request listener. Never throws. Up to the attempt loop a request is handled
   * synchronously (policy steps, a buffered body or a concurrency slot may wait: #forwardAfterWaits);
   * the loop then reports to the request's HttpExchange, so a request costs no async function here.
   */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.inflight++;
    try {
      const log = this.#entry(req);
      const trace = this.#tracing?.startServer(log.method, log.path, log.host, req.headers);
      if (trace !== undefined) log.traceId = trace.traceId;
      const record = new RequestRecord(req, res, log, trace, this.#onAccessLog !== undefined);
      // The router gets the full target: it keeps the query in upstreamPath.
      this.#routedHeaders = req.headers;
      const match = this.#router.match(log.host, req.url ?? '/', this.#routedHeader);
      this.#routedHeaders = undefined;
      if (match === undefined) {
        log.status = this.#proxyError(req, res, 'no_route', log);
        this.#finish(res, record, this.#services.of(UNROUTED));
        return;
      }
      log.service = match.service;
      log.routeId = match.routeId;
      this.#forward(req, res, match, record);
    } catch (err) {
      // Thrown before the request was finished or handed to the attempt loop.
      this.#routedHeaders = undefined;
      this.crashed(res, err);
    }
  };

  /**
   * A request answered before routing (a request target it cannot take, a routing loop): logged
   * and counted under `_unrouted` like a request no route matches.
   */
  refuse(req: IncomingMessage, res: ServerResponse, code: ProxyErrorCode, closeConnection: boolean): void {
    const log = this.#entry(req);
    const record = new RequestRecord(req, res, log, undefined, this.#onAccessLog !== undefined);
    log.error = code;
    log.status = this.#sendError(res, code, closeConnection, log);
    record.write(this.#services.of(UNROUTED), this.#onAccessLog);
  }

  /** The access-log entry of a request as it arrived; an id the proxy made carries its sequence number. */
  #entry(req: IncomingMessage): AccessLogEntry {
    const given = clientRequestId(req);
    if (given !== undefined) return arrivedEntry(req, given, 0);
    const sequence = nextRequestSequence();
    return arrivedEntry(req, generatedRequestId(sequence), sequence);
  }

  /** A routed request with nothing to wait for before its first attempt (nearly all), else #forwardAfterWaits. */
  #forward(req: IncomingMessage, res: ServerResponse, match: RouteMatch, record: RequestRecord): void {
    const policy = match.policy;
    const plan = planBody(req, this.#retryBufferBytes, this.#maxBodyBytes);
    if (policy?.hasSteps === true || policy?.concurrency !== undefined || plan.kind === 'buffer') {
      void this.#forwardAfterWaits(req, res, match, record, plan);
      return;
    }
    if (plan.kind === 'too_large') return this.#answerError(req, res, match, record, 'body_too_large');
    const peer = peerAddress(req);
    const ctx = createPickContext(req, clientAddress(req, peer, this.#trusted));
    const endpoint = this.#pickFirst(req, res, match, record, ctx);
    if (endpoint === undefined) return;
    const signal = this.#streamed(req, record.log, plan);
    this.#send(req, res, match, record, peer, ctx, endpoint, undefined, plan.kind === 'stream', signal, undefined);
  }

  /** #forward for a request that may wait before its first attempt: policy steps, a buffered body, a concurrency slot. */
  async #forwardAfterWaits(req: IncomingMessage, res: ServerResponse, match: RouteMatch, record: RequestRecord, firstPlan: BodyPlan): Promise<void> {
    const log = record.log;
    try {
      const peer = peerAddress(req);
      const clientIp = clientAddress(req, peer, this.#trusted);
      let policyRequest: ProxyPolicyRequest | undefined;
      const policy = match.policy;
      // A route whose policy is only attempt-level (retry, concurrency, split) has no steps to give a request object.
      if (policy?.hasSteps === true) {
        // The route's request steps (DESIGN §8 order), before the pick and before the body is read.
        policyRequest = new ProxyPolicyRequest(this, req, res, match, clientIp, log.requestId, log.host, isEncrypted(req) ? 'https' : 'http', log);
        let admitted = policy.admit(policyRequest);
        if (admitted !== true && admitted !== false) admitted = await admitted;
        if (!admitted) return this.#finish(res, record, this.#services.of(match.service));
      }
      // Planned again after request steps: one may have edited the headers that frame the body.
      const plan = policy?.hasSteps === true ? planBody(req, this.#retryBufferBytes, this.#maxBodyBytes) : firstPlan;
      if (plan.kind === 'too_large') return this.#answerError(req, res, match, record, 'body_too_large');
      const ctx = createPickContext(req, clientIp);
      let endpoint = this.#pickFirst(req, res, match, record, ctx);
      if (endpoint === undefined) return;
      let body: Buffer | undefined;
      if (plan.kind === 'buffer') {
        body = await readBody(req, plan.length);
        if (body === undefined) {
          log.error = 'client_abort';
          log.status = 499;
          return this.#finish(res, record, this.#services.of(match.service));
        }
        log.bytesIn = body.length;
      }
      const signal = this.#streamed(req, log, plan);
      // A concurrency limit takes its slot once the body is in: a slow upload holds none.
      const limit = policy?.concurrency;
      if (limit !== undefined) {
        let admitted = admit(endpoint, match, ctx, limit, res);
        if (admitted instanceof Promise) admitted = await admitted;
        if (typeof admitted === 'string') {
          log.error = admitted;
          if (admitted === 'overloaded') return this.#answerError(req, res, match, record, 'overloaded');
          log.status = 499;
          return this.#finish(res, record, this.#services.of(match.service));
        }
        endpoint = admitted;
      }
      this.#send(req, res, match, record, peer, ctx, endpoint, body, plan.kind === 'stream', signal, policyRequest);
    } catch (err) {
      this.crashed(res, err);
    }
  }

  /** The first instance, picked before the body is read (no instance: an immediate 503, answered here). */
  #pickFirst(req: IncomingMessage, res: ServerResponse, match: RouteMatch, record: RequestRecord, ctx: RequestPickContext): Endpoint | undefined {
    const endpoint = match.pick(ctx);
    if (endpoint === undefined) this.#answerError(req, res, match, record, 'no_healthy_instance');
    return endpoint;
  }

  /** A streamed body: its length into the log, and for a chunked one under a size limit the signal that ends the attempt past it. */
  #streamed(req: IncomingMessage, log: AccessLogEntry, plan: BodyPlan): AbortSignal | undefined {
    if (plan.kind !== 'stream') return undefined;
    log.bytesIn = plan.length;
    return plan.length === undefined && this.#maxBodyBytes > 0 ? this.#limitChunkedBody(req, log) : undefined;
  }

  /** A routed request answered with a proxy error before any attempt, then recorded. */
  #answerError(req: IncomingMessage, res: ServerResponse, match: RouteMatch, record: RequestRecord, code: ProxyErrorCode): void {
    record.log.status = this.#proxyError(req, res, code, record.log);
    this.#finish(res, record, this.#services.of(match.service));
  }

  /** The upstream request's headers, then the attempt loop; it reports to the exchange (answered or crashed). */
  #send(
    req: IncomingMessage,
    res: ServerResponse,
    match: RouteMatch,
    record: RequestRecord,
    peer: string,
    ctx: RequestPickContext,
    endpoint: Endpoint,
    body: Buffer | undefined,
    streamBody: boolean,
    signal: AbortSignal | undefined,
    policyRequest: ProxyPolicyRequest | undefined,
  ): void {
    if (body === undefined && !streamBody) skipDrainOfEmptyBody(req);
    setForwardedHeaders(req, peer, this.#trusted, isEncrypted(req) ? 'https' : 'http', record.log.requestId);
    const metrics = this.#services.of(match.service);
    const exchange = new HttpExchange(this, this.#engine, req, res, match, ctx, metrics, record, body, streamBody, signal, policyRequest);
    // A gRPC call's deadline bounds every attempt and travels upstream, reduced by the time spent.
    const grpcTimeout = parseGrpcTimeout(req.headers['grpc-timeout']);
    if (grpcTimeout !== undefined) exchange.deadline = performance.now() + grpcTimeout;
    this.#attempts.start(exchange, endpoint, exchange);
  }

  /** The attempt loop's last result (through the request's HttpExchange): logged, an error answered, recorded. */
  answered(exchange: HttpExchange, result: AttemptResult): void {
    const res = exchange.res;
    try {
      const log = exchange.record.log;
      log.grpcStatus ??= exchange.grpcStatus;
      log.instance = exchange.endpoint!.key;
      log.upstreamMs = result.upstreamMs;
      log.retries = exchange.retries;
      if (exchange.signal?.aborted) {
        log.error = 'body_too_large';
        log.status = this.#sendError(res, 'body_too_large', true, log);
      } else if (result.aborted) {
        log.error = 'client_abort';
        log.status = result.sent ? result.status : 499;
      } else if (result.error !== undefined) {
        log.error = result.error;
        log.status = result.sent ? result.status : this.#sendError(res, proxyErrorFor(result.error), !exchange.canResend(), log);
      } else {
        log.status = result.status;
      }
    } catch (err) {
      return this.crashed(res, err);
    }
    this.#finish(res, exchange.record, exchange.metrics);
  }

  /** The request is answered: recorded, and no longer in flight. Never throws. */
  #finish(res: ServerResponse, record: RequestRecord, metrics: ServiceMetrics): void {
    try {
      record.write(metrics, this.#onAccessLog);
      this.inflight--;
    } catch (err) {
      this.crashed(res, err);
    }
  }

  /** A bug (a step, engine or hook threw): logged, answered 502 when nothing was sent, no longer in flight. Never throws. */
  crashed(res: ServerResponse, err: unknown): void {
    this.inflight--;
    try {
      this.#log.error({ err }, 'proxy request failed unexpectedly');
      if (!res.writableEnded) sendProxyError(res, 'upstream_failed');
    } catch {
      // Nothing more can be done for this request.
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
}

function isEncrypted(req: IncomingMessage): boolean {
  return (req.socket as { encrypted?: boolean }).encrypted === true;
}
