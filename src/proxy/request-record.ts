/**
 * What a request leaves behind once answered: its metrics (count by status, duration, the
 * dashboard's series), its trace span's end and its access-log line. Started when the request
 * arrives; the handler fills in the entry as it goes and calls write() once.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { AccessLogEntry } from '../access-log.js';
import { UPSTREAM_ERROR_REASONS } from '../metrics.js';
import type { ServerTrace } from '../tracing/tracing.js';
import { RawResponse } from './raw-http1/response.js';
import type { ServiceMetrics } from './service-metrics.js';

/** A response that started fine but whose upstream failed later (a reset mid-body) still counts as an error. */
const UPSTREAM_ERRORS: ReadonlySet<string> = new Set(UPSTREAM_ERROR_REASONS);

export class RequestRecord {
  readonly started = performance.now();
  /** The raw listener's response counts its own bytes (for the access log only). */
  readonly #counted: RawResponse | undefined;
  /** Otherwise they are counted on the socket: node:net's bytesWritten, which copies the write queue to count it. */
  readonly #socket: Socket | undefined;
  readonly #bytesBefore: number = 0;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    readonly log: AccessLogEntry,
    readonly trace: ServerTrace | undefined,
    accessLogged: boolean,
  ) {
    if (!accessLogged) return;
    if (res instanceof RawResponse) {
      this.#counted = res;
      return;
    }
    this.#socket = countingSocket(req);
    this.#bytesBefore = this.#socket.bytesWritten;
  }

  /** Counts the request under `metrics`' service and hands its entry to the access log (when on). */
  write(metrics: ServiceMetrics, onAccessLog: ((entry: AccessLogEntry) => void) | undefined): void {
    const log = this.log;
    const durationMs = performance.now() - this.started;
    this.trace?.end(log);
    if (log.status !== 0) metrics.request(log.status).inc();
    if (log.grpcStatus !== undefined) metrics.grpcResponse(log.grpcStatus).inc();
    metrics.duration.observe(durationMs / 1000);
    // The dashboard's 15-minute series: 5xx answers and upstream failures count as errors.
    if (log.status !== 0) metrics.recordTraffic(durationMs, log.status >= 500 || (log.error !== undefined && UPSTREAM_ERRORS.has(log.error)));
    if (onAccessLog === undefined) return;
    if (this.#counted !== undefined) log.bytesOut = this.#counted.sentBytes;
    else if (this.#socket !== undefined) log.bytesOut = this.#socket.bytesWritten - this.#bytesBefore;
    else return;
    log.durationMs = durationMs;
    onAccessLog(log);
  }
}

/**
 * Where a request's written bytes are counted. HTTP/2: req.socket stops answering once the stream
 * closed (bytesWritten reads undefined, logged as NaN), so the session's own socket.
 */
function countingSocket(req: IncomingMessage): Socket {
  return (req as { stream?: { session?: { socket?: Socket } } }).stream?.session?.socket ?? req.socket;
}
