/**
 * One HTTP request as the attempt loop (attempts.ts) drives it, and the engine's
 * AttemptOptions at the same time: one object per request, no closure per attempt.
 */
import { performance } from 'node:perf_hooks';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import type { Endpoint } from '../endpoint.js';
import type { RouteMatch, RouteTimeouts } from '../routing/route.js';
import type { RequestPickContext } from '../routing/pick-context.js';
import { Exchange } from './attempts.js';
import type { AttemptOptions, AttemptResult, ForwardEngine } from './forwarder.js';
import { formatGrpcTimeout } from './grpc.js';
import { clientResponseHead } from './headers.js';
import type { ServiceMetrics } from './service-metrics.js';
import type { ProxyPolicyRequest } from './policy-request.js';

/** The result of an attempt not sent because the call's deadline had already passed. */
const DEADLINE_PASSED: AttemptResult = Object.freeze({ status: 0, sent: false, error: 'header_timeout', aborted: false, upstreamMs: 0 });

export class HttpExchange extends Exchange<AttemptResult> implements AttemptOptions {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The route's timeouts, or tighter ones when a gRPC deadline leaves less time. */
  timeouts: RouteTimeouts;
  /** gRPC calls: the status the upstream answered with (engines report it). */
  grpcStatus: number | undefined = undefined;
  /** performance.now() by which a gRPC call must be over; undefined = no deadline. */
  deadline: number | undefined;

  constructor(
    /** The handler: while it stops, responses ask clients to close their connection. */
    readonly handler: { readonly closing: boolean },
    readonly engine: ForwardEngine,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly match: RouteMatch,
    ctx: RequestPickContext,
    metrics: ServiceMetrics,
    readonly requestId: string,
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
    this.timeouts = match.timeouts;
  }

  send(endpoint: Endpoint): Promise<AttemptResult> {
    if (this.policyRequest !== undefined) {
      this.policyRequest.instance = endpoint.address;
      // Request edits that follow the attempt's instance (headers using {instance}).
      const steps = this.match.policy!.attempt;
      for (let i = 0; i < steps.length; i++) steps[i]!.run(this.policyRequest);
    }
    if (this.deadline !== undefined && !this.#applyDeadline()) return Promise.resolve(DEADLINE_PASSED);
    return this.engine.forward(this.req, this.res, endpoint, this);
  }

  /**
   * A streamed body can be sent again only while none of it was read (a connect that failed
   * before the body started flowing, as gRPC calls' bodies always stream); a buffered one always.
   */
  canResend(): boolean {
    return !this.streamBody || !this.req.readableDidRead;
  }

  noteGrpcStatus(status: number): void {
    this.grpcStatus = status;
  }

  /** Before each attempt: the remaining time bounds the attempt and is what the upstream is told. */
  #applyDeadline(): boolean {
    const left = this.deadline! - performance.now();
    if (left <= 0) return false;
    const route = this.match.timeouts;
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
    this.res.writeHead(status, head);
    return sink;
  }
}
