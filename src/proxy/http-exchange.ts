/**
 * One HTTP request as the attempt loop (attempts.ts) drives it, and the engine's
 * AttemptOptions at the same time: one object per request, no closure per attempt.
 * With a `retry` policy its writeHead refuses a 5xx answer another instance may
 * replace (the engine drains and drops it) and the loop sends the retry.
 */
import { performance } from 'node:perf_hooks';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import type { Endpoint } from '../endpoint.js';
import type { RouteMatch, RouteTimeouts } from '../routing/route.js';
import type { RequestPickContext } from '../routing/pick-context.js';
import type { ConcurrencyLimit } from '../policy/concurrency.js';
import { Exchange, type AttemptListener } from './attempts.js';
import type { AttemptOptions, AttemptResult, ForwardEngine } from './forwarder.js';
import { formatGrpcTimeout } from './grpc.js';
import { clientResponseHead } from './headers.js';
import { RawResponse } from './raw-http1/response.js';
import type { ServiceMetrics } from './service-metrics.js';
import type { ServerTrace } from '../tracing/tracing.js';
import type { ProxyPolicyRequest } from './policy-request.js';
import type { RequestRecord } from './request-record.js';

/** The handler as the exchange sees it (handler.ts). */
export interface ExchangeHandler {
  /** While it stops, responses ask clients to close their connection. */
  readonly closing: boolean;
  /** The attempt loop's last result. Never throws. */
  answered(exchange: HttpExchange, result: AttemptResult): void;
  /** The attempt loop broke (a bug). Never throws. */
  crashed(res: ServerResponse, error: unknown): void;
}

/** The result of an attempt not sent because the call's deadline had already passed. */
const DEADLINE_PASSED: AttemptResult = Object.freeze({ status: 0, sent: false, error: 'header_timeout', aborted: false, upstreamMs: 0 });

export class HttpExchange extends Exchange<AttemptResult> implements AttemptOptions, AttemptListener<AttemptResult> {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly headerValuesClean: boolean;
  /** The route's timeouts, or tighter ones when a gRPC deadline leaves less time. */
  timeouts: RouteTimeouts;
  /** gRPC calls: the status the upstream answered with (engines report it). */
  grpcStatus: number | undefined = undefined;
  /** performance.now() by which a gRPC call must be over; undefined = no deadline. */
  deadline: number | undefined;
  /** The request's server span when it is traced: each attempt gets a client span. */
  readonly trace: ServerTrace | undefined;
  override readonly slots: ConcurrencyLimit | undefined;
  override readonly replaySafe: boolean;
  /** The route's timeouts with the retry policy's per-try limit on the response head. */
  readonly #timeouts: RouteTimeouts;

  constructor(
    readonly handler: ExchangeHandler,
    readonly engine: ForwardEngine,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly match: RouteMatch,
    ctx: RequestPickContext,
    metrics: ServiceMetrics,
    /** The request's metrics and access-log entry, written once it is answered. */
    readonly record: RequestRecord,
    readonly body: Buffer | undefined,
    readonly streamBody: boolean,
    readonly signal: AbortSignal | undefined,
    /** Present when the route has a policy chain: its response steps see the same request. */
    readonly policyRequest: ProxyPolicyRequest | undefined = undefined,
  ) {
    super(match, ctx, metrics, true);
    this.method = req.method ?? 'GET';
    this.path = match.upstreamPath;
    this.headers = req.headers;
    // Policy steps (header edits, forward-auth) write values: the engine checks them all then.
    this.headerValuesClean = policyRequest === undefined && req.httpVersionMajor === 1;
    this.trace = record.trace;
    const policy = match.policy;
    this.slots = policy?.concurrency;
    const retry = this.retryPolicy;
    this.replaySafe = retry === undefined || retry.allowsMethod(this.method);
    this.#timeouts = retry === undefined ? match.timeouts : retry.timeouts(match.timeouts);
    this.timeouts = this.#timeouts;
  }

  get requestId(): string {
    return this.record.log.requestId;
  }

  /** The attempt loop's result goes to the handler (AttemptListener: the loop was started, not awaited). */
  answered(result: AttemptResult): void {
    this.handler.answered(this, result);
  }

  crashed(error: unknown): void {
    this.handler.crashed(this.res, error);
  }

  send(endpoint: Endpoint): Promise<AttemptResult> {
    if (this.policyRequest !== undefined) {
      this.policyRequest.instance = endpoint.address;
      // Request edits that follow the attempt's instance (headers using {instance}).
      const steps = this.match.policy!.attempt;
      for (let i = 0; i < steps.length; i++) steps[i]!.run(this.policyRequest);
    }
    if (this.deadline !== undefined && !this.#applyDeadline()) return Promise.resolve(DEADLINE_PASSED);
    if (this.trace !== undefined) return this.#tracedForward(this.trace, endpoint);
    return this.engine.forward(this.req, this.res, endpoint, this);
  }

  async #tracedForward(trace: ServerTrace, endpoint: Endpoint): Promise<AttemptResult> {
    // The attempt's span is the upstream's parent: its traceparent replaces the incoming one.
    const span = trace.startAttempt(`${this.method} ${this.match.service}`, endpoint.address, this.retries, this.headers);
    const result = await this.engine.forward(this.req, this.res, endpoint, this);
    span.end(result);
    return result;
  }

  /**
   * A streamed body can be sent again only while none of it was read (a connect that failed
   * before the body started flowing, as gRPC calls' bodies always stream); a buffered one always.
   */
  canResend(): boolean {
    return !this.streamBody || !this.req.readableDidRead;
  }

  override clientCloses(): ServerResponse {
    return this.res;
  }

  /** HTTP/2 client responses have no `destroyed`: their stream does. */
  override clientGone(): boolean {
    return this.res.destroyed || ((this.res as { stream?: { destroyed: boolean } }).stream?.destroyed ?? false);
  }

  noteGrpcStatus(status: number): void {
    this.grpcStatus = status;
  }

  /** Before each attempt: the remaining time bounds the attempt and is what the upstream is told. */
  #applyDeadline(): boolean {
    const left = this.deadline! - performance.now();
    if (left <= 0) return false;
    const route = this.#timeouts;
    this.timeouts = { connect: Math.min(route.connect, left), header: Math.min(route.header, left), idle: Math.min(route.idle, left) };
    this.headers['grpc-timeout'] = formatGrpcTimeout(left);
    return true;
  }

  /**
   * Writes the client response head and returns where the body goes (the response, or a
   * policy transform in front of it); undefined refuses the answer (the engine drops it and
   * the attempt reports `sent: false`, e.g. for a status-code retry).
   */
  writeHead(status: number, upstreamHeaders: readonly string[]): Writable | undefined {
    if (status >= 500 && this.#retriesStatus(status)) return undefined;
    const res = this.res;
    // Nothing to add or edit (no sticky cookie, no response step, not closing): the raw listener's
    // response writes the upstream's list as it comes.
    if (
      res instanceof RawResponse &&
      this.match.onResponse === undefined &&
      !this.handler.closing &&
      (this.match.policy === undefined || this.match.policy.response.length === 0) &&
      res.writeProxiedHead(status, upstreamHeaders, this.requestId)
    ) {
      return res;
    }
    const head = clientResponseHead(upstreamHeaders, this.requestId);
    if (this.match.onResponse) this.match.onResponse(this.endpoint!, (name, value) => head.push(name, value));
    // HTTP/2 has no Connection header (stopping sends GOAWAY instead).
    if (this.handler.closing && this.req.httpVersionMajor !== 2) head.push('connection', 'close');
    let sink: Writable = this.res;
    const policy = this.match.policy;
    if (policy !== undefined) {
      const steps = policy.response;
      for (let i = 0; i < steps.length; i++) sink = steps[i]!.onHead(this.policyRequest!, status, head, sink);
    }
    res.writeHead(status, head);
    return sink;
  }

  /**
   * A status-code retry (`retry.on`): only for a method that may be repeated, a body that can
   * be sent again, while attempts and budget remain and another instance can take it (picked
   * now: with none, the answer is passed on rather than refused).
   */
  #retriesStatus(status: number): boolean {
    const retry = this.retryPolicy;
    return (
      retry !== undefined &&
      retry.retriesStatus(status) &&
      this.replaySafe &&
      this.canResend() &&
      !this.clientGone() &&
      this.planRetry()
    );
  }
}
