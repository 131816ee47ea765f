/**
 * The HTTP/2 side of the client listeners: a node:http2 server in compatibility mode,
 * so each stream reaches the same request handler as an HTTP/1.1 request (routing,
 * balancing, retries, metrics, access log), with the abuse limits of `limits.http2`:
 *
 * - SETTINGS_MAX_CONCURRENT_STREAMS and the per-stream window are advertised;
 * - the header list is bounded like HTTP/1.1's (`limits.maxHeaderBytes`), and so is
 *   the number of header fields;
 * - rapid reset (CVE-2023-44487): a client that resets more than
 *   `maxResetsPerSecond` streams within one second gets GOAWAY (ENHANCE_YOUR_CALM) and
 *   its connection is closed, so opening and cancelling streams cannot keep the proxy
 *   busy while never counting against the stream limit;
 * - invalid frames and refused streams are bounded by node:http2 itself.
 * The server never listens on its own: protocol-listener.ts hands it connections.
 */
import http2, { type Http2Server, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import type { WaypostConfig } from '../config/schema.js';
import type { Logger } from '../log.js';

const { NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_NO_ERROR } = http2.constants;

/** Header fields per request at most (node:http2's own default is 128). */
const MAX_HEADER_PAIRS = 256;
/** Per-session memory node:http2 may use for buffers, in MB, before refusing new streams. */
const MAX_SESSION_MEMORY_MB = 32;

export interface Http2ServerOptions {
  config: WaypostConfig;
  logger: Logger;
  onRequest: (req: Http2ServerRequest, res: Http2ServerResponse) => void;
  /** Client inactivity limit for each new session; read per session so a reload applies. @default config.timeouts.idle */
  clientIdleMs?: () => number;
  /** Called once per client session (connection), e.g. to count and track it. */
  onSession?: (session: ServerHttp2Session) => void;
}

export function createHttp2Server(options: Http2ServerOptions): Http2Server {
  const { limits, timeouts } = options.config;
  const server = http2.createServer({
    settings: {
      maxConcurrentStreams: limits.http2.maxConcurrentStreams,
      initialWindowSize: limits.http2.initialWindowSize,
      maxHeaderListSize: limits.maxHeaderBytes,
      enablePush: false,
    },
    maxHeaderListPairs: MAX_HEADER_PAIRS,
    maxSessionMemory: MAX_SESSION_MEMORY_MB,
    maxSessionInvalidFrames: 1_000,
    maxSessionRejectedStreams: 100,
  });
  server.on('request', options.onRequest);
  const maxResets = limits.http2.maxResetsPerSecond;
  server.on('session', (session: ServerHttp2Session) => {
    session.on('error', (err) => options.logger.debug({ err }, 'http2 client session error'));
    // Client inactivity on the whole connection (no frame either way): close it gracefully.
    const idleMs = options.clientIdleMs?.() ?? timeouts.idle;
    if (idleMs > 0) session.setTimeout(idleMs, () => session.close());
    guardResets(session, maxResets, options.logger);
    options.onSession?.(session);
  });
  server.on('sessionError', (err) => options.logger.debug({ err }, 'http2 session error'));
  return server;
}

/** Closes a session whose client resets streams faster than `maxPerSecond`. */
function guardResets(session: ServerHttp2Session, maxPerSecond: number, log: Logger): void {
  let windowStart = 0;
  let resets = 0;
  session.on('stream', (stream) => {
    stream.once('close', () => {
      if (stream.rstCode === NGHTTP2_NO_ERROR || stream.rstCode === undefined || session.destroyed) return;
      const now = Date.now();
      if (now - windowStart >= 1_000) {
        windowStart = now;
        resets = 0;
      }
      if (++resets <= maxPerSecond) return;
      log.warn({ resets, maxPerSecond }, 'http2 client resets streams too fast: connection closed');
      session.goaway(NGHTTP2_ENHANCE_YOUR_CALM);
      session.destroy();
    });
  });
}
