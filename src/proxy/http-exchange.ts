/**
 * One HTTP request as the attempt loop (attempts.ts) drives it, and the engine's
 * AttemptOptions at the same time: one object per request, no closure per attempt.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Endpoint } from '../endpoint.js';
import type { RouteMatch, RouteTimeouts } from '../routing/route.js';
import type { RequestPickContext } from '../routing/pick-context.js';
import { Exchange } from './attempts.js';
import type { AttemptOptions, AttemptResult, ForwardEngine } from './forwarder.js';
import { clientResponseHead } from './headers.js';
import type { ServiceMetrics } from './service-metrics.js';

export class HttpExchange extends Exchange<AttemptResult> implements AttemptOptions {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly timeouts: RouteTimeouts;

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
  ) {
    super(match, ctx, metrics, true);
    this.method = req.method ?? 'GET';
    this.path = match.upstreamPath;
    this.headers = req.headers;
    this.timeouts = match.timeouts;
  }

  send(endpoint: Endpoint): Promise<AttemptResult> {
    return this.engine.forward(this.req, this.res, endpoint, this);
  }

  /** A streamed body is gone once sent; a buffered one (or none) can be sent again. */
  canResend(): boolean {
    return !this.streamBody;
  }

  writeHead(status: number, upstreamHeaders: readonly string[]): void {
    const head = clientResponseHead(upstreamHeaders, this.requestId);
    if (this.match.onResponse) this.match.onResponse(this.endpoint!, (name, value) => head.push(name, value));
    if (this.handler.closing) head.push('connection', 'close');
    this.res.writeHead(status, head);
  }
}
