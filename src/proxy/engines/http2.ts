/**
 * Engine for instances that speak HTTP/2 (`protocol: h2c` in cleartext with prior
 * knowledge, `h2` over TLS with ALPN): each attempt is one stream on a pooled session,
 * so a gRPC client's calls are balanced one by one however few connections it opens.
 *
 * Sessions (http2-sessions.ts) are multiplexed up to the instance's own
 * SETTINGS_MAX_CONCURRENT_STREAMS, kept alive with PING, and leave the pool on GOAWAY.
 * A stream the instance refused without processing it (REFUSED_STREAM, or beyond a
 * GOAWAY's last stream id) reports `reset` before any byte reached the client, which the
 * attempt loop retries on another instance while the body is replayable.
 *
 * Trailers (gRPC's grpc-status, grpc-message, binary metadata) pass through to the client;
 * a trailers-only answer (status in the one HEADERS frame that ends the stream) is passed
 * on as headers plus trailers, which every gRPC client reads the same way.
 */
import http2, { type ClientHttp2Stream, type IncomingHttpHeaders as Http2Headers, type OutgoingHttpHeaders } from 'node:http2';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Writable } from 'node:stream';
import type { Endpoint } from '../../endpoint.js';
import {
  UpstreamProtocolError,
  UpstreamTimeoutError,
  isForwardableStatus,
  upstreamErrorReason,
  upstreamTimer,
  type AttemptOptions,
  type AttemptResult,
  type EngineStats,
  type ForwardEngine,
} from '../forwarder.js';
import type { CloseReason, ConnectionTracker, TrackedConnection } from '../connection-tracker.js';
import { GrpcStatus, endGrpcCall, isGrpc } from '../grpc.js';
import { Http2Sessions, type PooledSession } from './http2-sessions.js';

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, HTTP2_HEADER_STATUS } = http2.constants;

/** Request headers HTTP/2 forbids (RFC 9113 §8.2.2); `te` is allowed only as `trailers`. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'http2-settings']);
/** Fields of a trailers-only answer that belong in the trailers when it is passed on as headers + trailers. */
const GRPC_STATUS_FIELDS = ['grpc-status', 'grpc-message', 'grpc-status-details-bin'] as const;

/** The response side both HTTP/1.1 and HTTP/2 client responses offer. */
type ClientResponse = ServerResponse & { addTrailers(headers: Record<string, string | string[]>): void };

export class Http2Engine implements ForwardEngine {
  readonly name = 'http2' as const;
  readonly #sessions = new Http2Sessions();
  readonly #connections: ConnectionTracker | undefined;

  /** `connections`: streams are tracked per instance, so draining ends long calls after drainTimeout. */
  constructor(connections?: ConnectionTracker) {
    this.#connections = connections;
  }

  forward(req: IncomingMessage, res: ServerResponse, endpoint: Endpoint, attempt: AttemptOptions): Promise<AttemptResult> {
    const tls = endpoint.instance.protocol === 'h2';
    const exchange = new Http2Attempt(req, res as ClientResponse, attempt, endpoint);
    const untrack = this.#connections?.add(exchange, { countInflight: false });
    const done = exchange.run(this.#sessions, endpoint.address, tls);
    return untrack === undefined ? done : done.finally(untrack);
  }

  stats(): EngineStats {
    return this.#sessions.stats();
  }

  /** Closes the sessions to an address that left the registry; streams under way finish first. */
  forget(address: string): void {
    this.#sessions.forget(address);
  }

  close(): Promise<void> {
    return this.#sessions.close();
  }
}

class Http2Attempt implements TrackedConnection {
  #status = 0;
  #sent = false;
  #aborted = false;
  #upstreamMs = 0;
  #stream: ClientHttp2Stream | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Where the body goes (the client response or a policy transform); undefined = refused, dropped. */
  #sink: Writable | undefined;
  #settle!: (result: AttemptResult) => void;
  #settled = false;
  readonly #started = performance.now();

  constructor(
    readonly req: IncomingMessage,
    readonly res: ClientResponse,
    readonly attempt: AttemptOptions,
    readonly endpoint: Endpoint,
  ) {}

  /** The instance is draining (or the proxy stopping) and the call outlived drainTimeout. */
  close(_reason: CloseReason): void {
    this.#fail(Object.assign(new Error('instance drained'), { code: 'ECONNRESET' }));
  }

  run(sessions: Http2Sessions, address: string, tls: boolean): Promise<AttemptResult> {
    const done = new Promise<AttemptResult>((resolve) => (this.#settle = resolve));
    const { res, attempt } = this;
    res.once('close', this.#onClientClose);
    attempt.signal?.addEventListener('abort', this.#cancel, { once: true });
    if (attempt.signal?.aborted || res.destroyed) {
      this.#cancel();
      return done;
    }
    // Connect timeout and header timeout run back to back, as on HTTP/1.1.
    this.#timer = upstreamTimer(this.#timeout, attempt.timeouts.connect, 'connect_timeout');
    sessions.acquire(address, tls, attempt.timeouts.connect, (err, session) => {
      if (this.#settled) return;
      if (err !== undefined || session === undefined) {
        this.#fail(err ?? new Error('no session'));
        return;
      }
      clearTimeout(this.#timer);
      this.#timer = upstreamTimer(this.#timeout, attempt.timeouts.header, 'header_timeout');
      this.#send(session, address, tls);
    });
    return done;
  }

  #send(session: PooledSession, address: string, tls: boolean): void {
    const { req, attempt } = this;
    const hasBody = attempt.body !== undefined || attempt.streamBody;
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(requestHeaders(attempt, address, tls), { endStream: !hasBody });
    } catch (err) {
      this.#fail(err);
      return;
    }
    this.#stream = stream;
    stream.on('response', this.#onResponse);
    stream.on('trailers', this.#onTrailers);
    stream.on('data', this.#onData);
    stream.on('end', this.#onEnd);
    stream.on('error', (err) => this.#fail(err));
    stream.on('close', this.#onStreamClose);
    if (attempt.timeouts.idle > 0) stream.setTimeout(attempt.timeouts.idle, () => this.#timeout('idle_timeout'));
    if (attempt.body !== undefined) stream.end(attempt.body);
    else if (attempt.streamBody) req.pipe(stream);
  }

  readonly #onResponse = (headers: Http2Headers, flags: number): void => {
    clearTimeout(this.#timer);
    this.#upstreamMs = performance.now() - this.#started;
    const status = Number(headers[HTTP2_HEADER_STATUS]);
    // The same rule as the HTTP/1.1 engines: nothing outside 100-599 reaches a client (→ 502).
    if (!isForwardableStatus(status)) {
      this.#fail(new UpstreamProtocolError(status));
      return;
    }
    if (status < 200) return; // interim responses are not forwarded
    this.#status = status;
    const trailersOnly = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    const moved: Record<string, string> = {};
    const raw: string[] = [];
    for (const name of Object.keys(headers)) {
      if (name.charCodeAt(0) === 58 /* ':' */) continue;
      const value = headers[name];
      if (value === undefined) continue;
      if (trailersOnly && (GRPC_STATUS_FIELDS as readonly string[]).includes(name)) {
        moved[name] = String(value);
        continue;
      }
      if (Array.isArray(value)) for (const v of value) raw.push(name, v);
      else raw.push(name, String(value));
    }
    this.#sink = this.attempt.writeHead(status, raw);
    if (this.#sink === undefined) {
      // Refused: the stream is read to its end and dropped (#onData, #onEnd).
      return;
    }
    this.#sent = true;
    // Replies flowing reset the idle timer, not the call's deadline: a backend that ignores
    // grpc-timeout is cut at it (DEADLINE_EXCEEDED in the trailers, see #fail).
    if (this.attempt.deadline !== undefined && !trailersOnly) {
      this.#timer = setTimeout(this.#timeout, Math.max(0, this.attempt.deadline - performance.now()), 'header_timeout');
    }
    if (trailersOnly && Object.keys(moved).length > 0) {
      this.res.addTrailers(moved);
      this.#noteGrpcStatus(moved['grpc-status']);
    }
  };

  readonly #onTrailers = (trailers: Http2Headers): void => {
    // A refused answer's trailers are dropped with it (the retry's answer has its own).
    if (!this.#sent) return;
    const out: Record<string, string | string[]> = {};
    for (const name of Object.keys(trailers)) {
      const value = trailers[name];
      if (name.charCodeAt(0) !== 58 && value !== undefined) out[name] = Array.isArray(value) ? value : String(value);
    }
    this.res.addTrailers(out);
    this.#noteGrpcStatus(out['grpc-status']);
  };

  #noteGrpcStatus(value: string | string[] | undefined): void {
    if (typeof value === 'string' && /^\d{1,2}$/.test(value)) this.attempt.noteGrpcStatus?.(Number(value));
  }

  readonly #onData = (chunk: Buffer): void => {
    const sink = this.#sink;
    if (sink !== undefined && !sink.write(chunk)) {
      this.#stream?.pause();
      sink.once('drain', this.#onDrain);
    }
  };

  readonly #onDrain = (): void => {
    this.#stream?.resume();
  };

  readonly #onEnd = (): void => {
    if (!this.#sent) {
      // Refused answer read to its end; otherwise no final response came and #onStreamClose reports it.
      if (this.#status !== 0) this.#resolve(undefined);
      return;
    }
    this.#sink!.end();
    if (this.res.closed || this.res.writableFinished) this.#resolve(undefined);
    else this.res.once('finish', () => this.#resolve(undefined));
  };

  readonly #onStreamClose = (): void => {
    if (this.#settled) return;
    const stream = this.#stream;
    if (stream !== undefined && stream.rstCode !== undefined && stream.rstCode !== 0) {
      this.#fail(Object.assign(new Error(`upstream reset the stream (code ${stream.rstCode})`), { code: 'ECONNRESET', rstCode: stream.rstCode }));
    } else if (!this.#sent) {
      this.#fail(Object.assign(new Error('upstream closed the stream without a response'), { code: 'ECONNRESET' }));
    }
  };

  readonly #onClientClose = (): void => {
    if (!this.#settled && !this.res.writableFinished) this.#cancel();
  };

  /** The client went away, or the handler aborted the attempt (body over the limit). */
  readonly #cancel = (): void => {
    if (this.#settled) return;
    this.#aborted = true;
    this.#stream?.close(NGHTTP2_CANCEL);
    this.#resolve(undefined);
  };

  readonly #timeout = (reason: 'connect_timeout' | 'header_timeout' | 'idle_timeout'): void => {
    this.#stream?.close(NGHTTP2_CANCEL);
    this.#fail(new UpstreamTimeoutError(reason));
  };

  #fail(err: unknown): void {
    if (this.#settled) return;
    this.#stream?.close(NGHTTP2_CANCEL);
    const reason = http2ErrorReason(err);
    if (this.#sent) {
      // Once the head is out the client must see a broken response, not a clean end; a gRPC
      // client reads "broken" from the status in the trailers (UNAVAILABLE: try elsewhere).
      if (isGrpc(this.attempt.headers)) {
        const timedOut = reason === 'idle_timeout' || reason === 'header_timeout';
        const status = timedOut ? GrpcStatus.DEADLINE_EXCEEDED : GrpcStatus.UNAVAILABLE;
        endGrpcCall(this.res, status, `upstream failed mid-call: ${reason ?? 'error'}`);
        this.attempt.noteGrpcStatus?.(status);
      } else {
        this.res.destroy();
      }
    }
    this.#resolve(reason);
  }

  #resolve(error: AttemptResult['error']): void {
    if (this.#settled) return;
    this.#settled = true;
    clearTimeout(this.#timer);
    this.res.off('close', this.#onClientClose);
    this.attempt.signal?.removeEventListener('abort', this.#cancel);
    this.#settle({ status: this.#status, sent: this.#sent, error, aborted: this.#aborted, upstreamMs: this.#upstreamMs });
  }
}

/** The upstream request head: pseudo-headers first, connection-specific fields dropped. */
function requestHeaders(attempt: AttemptOptions, address: string, tls: boolean): OutgoingHttpHeaders {
  const source: IncomingHttpHeaders = attempt.headers;
  const headers: OutgoingHttpHeaders = {
    ':method': attempt.method,
    ':path': attempt.path,
    ':scheme': tls ? 'https' : 'http',
    ':authority': source.host ?? address,
  };
  for (const name of Object.keys(source)) {
    if (name.charCodeAt(0) === 58 || CONNECTION_SPECIFIC.has(name)) continue;
    const value = source[name];
    if (value === undefined) continue;
    if (name === 'te') {
      if (String(value).toLowerCase().includes('trailers')) headers.te = 'trailers';
      continue;
    }
    headers[name] = value;
  }
  return headers;
}

/** Stream errors on top of the socket-level ones: a refused or reset stream is `reset`. */
export function http2ErrorReason(err: unknown): AttemptResult['error'] {
  const rst = (err as { rstCode?: unknown } | null)?.rstCode;
  const code = (err as { code?: unknown } | null)?.code;
  if (rst === NGHTTP2_REFUSED_STREAM || code === 'ERR_HTTP2_STREAM_ERROR' || code === 'ERR_HTTP2_GOAWAY_SESSION') return 'reset';
  if (code === 'ERR_HTTP2_SESSION_ERROR' || code === 'ERR_HTTP2_STREAM_CANCEL') return 'reset';
  if (code === 'ERR_HTTP2_ERROR' || code === 'ERR_HTTP2_INVALID_HEADER_VALUE' || code === 'ERR_HTTP2_PROTOCOL_ERROR') return 'protocol';
  return upstreamErrorReason(err);
}
