/**
 * One WebSocket upgrade as the attempt loop (attempts.ts) drives it: each
 * attempt sends the upgrade request to one instance with connect and
 * response-head timeouts; nothing reaches the client before the loop ends, so
 * a failed connect may be retried elsewhere. node:http's client parses the answer.
 * An answer without switching protocols is then relayed to the client as it is.
 */
import http, { type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { Endpoint } from '../endpoint.js';
import type { UpstreamErrorReason } from '../metrics.js';
import type { RequestPickContext } from '../routing/pick-context.js';
import type { RouteMatch } from '../routing/route.js';
import { Exchange, type AttemptReport } from './attempts.js';
import { UpstreamTimeoutError, upstreamErrorReason } from './forwarder.js';
import { clientResponseHead } from './headers.js';
import type { ServiceMetrics } from './service-metrics.js';
import type { ServerTrace } from '../tracing/tracing.js';
import type { UpgradeLogLine } from './ws-access-log.js';

/** One upgrade attempt: failed (`error`), refused (`res` without `upstream`) or upgraded (both). */
export interface UpgradeResult extends AttemptReport {
  /** The upstream's answer head; undefined when the attempt failed. */
  readonly res: IncomingMessage | undefined;
  /** The upgraded upstream socket (status 101); undefined otherwise. */
  readonly upstream: Socket | undefined;
  /** Bytes the upstream sent after its 101 head. */
  readonly head: Buffer | undefined;
  /** Time to the upstream's answer head in this attempt; 0 without one (the access log's `upstreamMs`). */
  readonly upstreamMs: number;
}

/** One upgrade as the attempt loop drives it: nothing reaches the client before the loop ends. */
export class UpgradeExchange extends Exchange<UpgradeResult> {
  constructor(
    readonly match: RouteMatch,
    ctx: RequestPickContext,
    metrics: ServiceMetrics,
    readonly client: Duplex,
    readonly headers: http.OutgoingHttpHeaders,
    /** Path with query sent upstream: the route's, or what the policy's `rewrite` made of it. */
    readonly path: string = match.upstreamPath,
  ) {
    // Open tunnels count in stats.inflight through the ConnectionTracker; attempts do not.
    super(match, ctx, metrics, false);
  }

  /** The upgrade's server span when it is traced: each attempt gets a client span. */
  trace: ServerTrace | undefined = undefined;

  send(endpoint: Endpoint): Promise<UpgradeResult> {
    if (this.trace !== undefined) return this.#traced(this.trace, endpoint);
    return attempt(endpoint, this.match, this.path, this.headers);
  }

  async #traced(trace: ServerTrace, endpoint: Endpoint): Promise<UpgradeResult> {
    const span = trace.startAttempt(`GET ${this.match.service}`, endpoint.address, this.retries, this.headers);
    const result = await attempt(endpoint, this.match, this.path, this.headers);
    span.end({ status: result.res?.statusCode ?? 0, error: result.error });
    return result;
  }

  canResend(): boolean {
    return !this.client.destroyed;
  }

  override clientCloses(): Duplex {
    return this.client;
  }

  override clientGone(): boolean {
    return this.client.destroyed;
  }
}

/** One upgrade attempt against one instance, with connect and response-head timeouts. */
function attempt(endpoint: Endpoint, match: RouteMatch, path: string, headers: http.OutgoingHttpHeaders): Promise<UpgradeResult> {
  return new Promise((resolve) => {
    let settled = false;
    const started = performance.now();
    const proxyReq = http.request({
      host: endpoint.instance.host,
      port: endpoint.instance.port,
      method: 'GET',
      path,
      headers,
      agent: false,
    });
    const settle = (result: UpgradeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const fail = (reason: 'connect_timeout' | 'header_timeout'): void => {
      settle(failed(reason));
      proxyReq.destroy(new UpstreamTimeoutError(reason));
    };
    let timer = setTimeout(fail, match.timeouts.connect, 'connect_timeout');
    proxyReq.once('socket', (socket: Socket) => {
      socket.once('connect', () => {
        clearTimeout(timer);
        if (!settled) timer = setTimeout(fail, match.timeouts.header, 'header_timeout');
      });
    });
    proxyReq.on('error', (err) => settle(failed(upstreamErrorReason(err))));
    proxyReq.once('response', (res) => settle(answered(res.statusCode ?? 502, res, undefined, undefined, performance.now() - started)));
    proxyReq.once('upgrade', (res, upstream: Socket, head: Buffer) => {
      if (settled) upstream.destroy();
      else settle(answered(101, res, upstream, head, performance.now() - started));
    });
    proxyReq.end();
  });
}

function failed(error: UpstreamErrorReason): UpgradeResult {
  return { status: 0, sent: false, error, aborted: false, res: undefined, upstream: undefined, head: undefined, upstreamMs: 0 };
}

function answered(status: number, res: IncomingMessage, upstream: Socket | undefined, head: Buffer | undefined, upstreamMs: number): UpgradeResult {
  return { status, sent: false, error: undefined, aborted: false, res, upstream, head, upstreamMs };
}

/**
 * The backend answered without switching protocols: its status, headers and body go to the client.
 * The line is written once the body is through (or cut), as an HTTP response's is. Returns
 * the status the client got: 499 when it left before the answer.
 */
export function forwardRefusal(res: IncomingMessage, socket: Duplex, requestId: string, line: UpgradeLogLine | undefined): number {
  if (socket.destroyed) {
    // No 'close' would come to stop the relay: the upstream's answer is dropped here.
    res.destroy();
    line?.write(499, 'client_abort');
    return 499;
  }
  const status = res.statusCode ?? 502;
  if (line !== undefined) line.entry.status = status;
  let head = `HTTP/1.1 ${status} ${res.statusMessage ?? ''}\r\n`;
  const headers = clientResponseHead(res.rawHeaders, requestId);
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]!}: ${headers[i + 1]!}\r\n`;
  // Without transfer-encoding (decoded by node:http), the body ends when the connection does.
  head += 'connection: close\r\n\r\n';
  socket.write(head);
  res.on('error', (err) => {
    socket.destroy();
    line?.write(status, upstreamErrorReason(err));
  });
  res.on('end', () => {
    socket.end();
    res.socket?.destroy();
    line?.write(status);
  });
  // A client gone mid-body: stop reading the upstream (nothing would take it), and log what it got.
  socket.once('close', () => {
    res.destroy();
    line?.write(status, 'client_abort');
  });
  res.pipe(socket, { end: false });
  return status;
}
