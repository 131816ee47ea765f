/**
 * The forwarding seam (DESIGN §1): one engine per file under engines/. An engine
 * sends one attempt of a request to one endpoint and streams the answer back;
 * the handler owns routing, retries, metrics and proxy-made responses.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import { MAX_DURATION_MS } from '../config/duration.js';
import type { EngineName } from '../config/schema.js';
import type { Endpoint } from '../endpoint.js';
import type { UpstreamErrorReason } from '../metrics.js';
import type { RouteTimeouts } from '../routing/route.js';


/** Upstream connections per endpoint at most, in every engine; further requests queue. */
export const MAX_UPSTREAM_CONNECTIONS = 256;
/**
 * Idle upstream connections are dropped after this, below the usual backend keep-alive
 * (Node's default is 5 s). Reusing a socket the backend is closing at that very moment is
 * the classic "socket hang up" race; staying under its timeout makes it rare, and the
 * handler retries the resulting `reset` when the body is replayable.
 */
export const UPSTREAM_IDLE_TIMEOUT_MS = 4_000;

/**
 * A timer for one of an attempt's upstream timeouts (connect, header): a limit of 0 sets none,
 * as a socket timeout of 0 and undici's 0 do, in every engine.
 */
export function upstreamTimer<T>(callback: (reason: T) => void, ms: number, reason: T): NodeJS.Timeout | undefined {
  // Config durations stop at MAX_DURATION_MS; past it Node would fire after 1 ms.
  return ms > 0 ? setTimeout(callback, Math.min(ms, MAX_DURATION_MS), reason) : undefined;
}

/** Everything an engine needs for one attempt; built once per request by the handler. */
export interface AttemptOptions {
  readonly method: string;
  /** Path with query to request upstream. */
  readonly path: string;
  /** Upstream request headers, already cleaned (hop-by-hop stripped, X-Forwarded-* set). */
  readonly headers: IncomingHttpHeaders;
  /**
   * true: every header value is the client's as a strict HTTP/1 parser (llhttp) gave it, or one
   * the proxy made itself, so none can hold a CR, LF or NUL and an engine that writes the head
   * itself need not look again. Unset or false (a policy step ran and may have written any value;
   * HTTP/2 clients): the engine checks each value before it is sent.
   */
  readonly headerValuesClean?: boolean;
  /** The whole request body when it was buffered (replayable); undefined = stream `req` or no body. */
  readonly body: Buffer | undefined;
  /** true = pipe the client request into the upstream request (not replayable). */
  readonly streamBody: boolean;
  readonly timeouts: RouteTimeouts;
  /** Aborts the attempt (request body over the size limit). */
  readonly signal: AbortSignal | undefined;
  /**
   * Writes the client response head from the upstream status and raw header list
   * (`[name, value, …]` as received); called once, before any body byte. Returns where the
   * engine writes the body (the client response, or a transform in front of it such as
   * compression), or undefined when the answer is refused: the engine then reads the
   * upstream body to its end, drops it, and resolves with `sent: false` and no error
   * (the attempt loop may retry it, e.g. on a status code).
   */
  writeHead(status: number, upstreamHeaders: readonly string[]): Writable | undefined;
  /** gRPC: the grpc-status the upstream answered with (from trailers or a trailers-only answer). */
  noteGrpcStatus?(status: number): void;
  /** gRPC: performance.now() by which the whole call must be over (grpc-timeout); undefined = none. */
  readonly deadline?: number | undefined;
}

export interface AttemptResult {
  /** Upstream status code; 0 when no response head arrived. */
  status: number;
  /** true once response bytes were sent to the client: the attempt can no longer be retried or replaced. */
  sent: boolean;
  /** Why the attempt failed; undefined on success or client abort. */
  error: UpstreamErrorReason | undefined;
  /** The client went away (or the handler aborted) before the exchange finished. */
  aborted: boolean;
  /** Milliseconds from attempt start to the upstream response head (0 when none). */
  upstreamMs: number;
}

export interface EngineStats {
  /** Open upstream sockets (active and idle), over all endpoints. */
  sockets: number;
  /** Requests waiting for an upstream socket. */
  pending: number;
}

export interface ForwardEngine {
  /** The configured HTTP/1.1 engine's name, or `http2` for the engine of HTTP/2 instances. */
  readonly name: EngineName | 'http2';
  /** Resolves when the exchange is over (response finished, failed or aborted); never rejects. */
  forward(req: IncomingMessage, res: ServerResponse, endpoint: Endpoint, attempt: AttemptOptions): Promise<AttemptResult>;
  stats(): EngineStats;
  /**
   * `address` (HOST:PORT) left the registry: stop pooling connections to it. Requests
   * in flight finish on their sockets, which then close; idle ones close now. A later
   * request to the same address opens a fresh pool.
   */
  forget(address: string): void;
  /** Drops every pooled upstream connection. */
  close(): Promise<void>;
}

/** Message constants engines use to tag the failures they cause themselves. */
export class UpstreamTimeoutError extends Error {
  constructor(readonly reason: UpstreamErrorReason) {
    super(`upstream ${reason.replace('_', ' ')}`);
  }
}

/**
 * Status codes a response may carry (RFC 9110 §15: three digits, 1xx to 5xx).
 * Parsers accept any three digits, and node:http would pass `999` on verbatim.
 */
export function isForwardableStatus(status: number): boolean {
  return status >= 100 && status <= 599;
}

/** An upstream answer that cannot be passed on as it is (status outside 100–599): a protocol error, 502. */
export class UpstreamProtocolError extends Error {
  constructor(status: number) {
    super(`upstream answered with status ${status}, outside 100-599`);
  }
}

/** Maps a socket, parser or engine error onto a bounded reason label. */
export function upstreamErrorReason(err: unknown): UpstreamErrorReason {
  if (err instanceof UpstreamTimeoutError) return err.reason;
  if (err instanceof UpstreamProtocolError) return 'protocol';
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return 'other';
  switch (code) {
    case 'ECONNREFUSED':
      return 'connect_refused';
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connect_timeout';
    case 'UND_ERR_HEADERS_TIMEOUT':
      return 'header_timeout';
    case 'UND_ERR_BODY_TIMEOUT':
      return 'idle_timeout';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return 'reset';
    default:
      return code.startsWith('HPE_') || code === 'UND_ERR_RESPONSE_STATUS_CODE' ? 'protocol' : 'other';
  }
}
