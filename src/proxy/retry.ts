/**
 * When a failed attempt may be tried again on another instance (DESIGN §5): only
 * failures that happened before any response byte reached the client and that
 * mean "the instance never took the request" (refused, reset, connect timeout),
 * only while the request body can be sent again, at most `route.retries` times.
 * A route's `retry` policy widens this (src/policy/retry-policy.ts); the attempt
 * loop (attempts.ts) applies whichever the route has.
 */
import type { IncomingMessage } from 'node:http';
import type { UpstreamErrorReason } from '../metrics.js';

const RETRYABLE: ReadonlySet<UpstreamErrorReason> = new Set(['connect_refused', 'connect_timeout', 'reset']);

export function isRetryable(reason: UpstreamErrorReason | undefined): boolean {
  return reason !== undefined && RETRYABLE.has(reason);
}

/** How the handler sends the request body, decided from its headers before reading it. */
export type BodyPlan =
  | { kind: 'none' }
  /** Read fully first (content-length known and ≤ the retry buffer): replayable. */
  | { kind: 'buffer'; length: number }
  /** Piped as it arrives: not replayable. `length` is undefined for chunked bodies. */
  | { kind: 'stream'; length: number | undefined }
  /** content-length above maxBodyBytes: refuse with 413 without reading. */
  | { kind: 'too_large' };

const NONE: BodyPlan = { kind: 'none' };
const STREAMED: BodyPlan = { kind: 'stream', length: undefined };

export function planBody(req: IncomingMessage, retryBufferBytes: number, maxBodyBytes: number): BodyPlan {
  const lengthHeader = req.headers['content-length'];
  if (lengthHeader !== undefined) {
    const length = Number(lengthHeader);
    if (length === 0) return NONE;
    if (maxBodyBytes > 0 && length > maxBodyBytes) return { kind: 'too_large' };
    return length <= retryBufferBytes ? { kind: 'buffer', length } : { kind: 'stream', length };
  }
  // HTTP/2: without content-length a body follows unless the HEADERS frame ended the stream.
  if (req.httpVersionMajor === 2) return (req as { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders ? NONE : STREAMED;
  // HTTP/1.1: without content-length a body exists only when chunked (Node's parser rejects other framings).
  return req.headers['transfer-encoding'] === undefined ? NONE : STREAMED;
}

/** Reads a (small, bounded) request body into one buffer; undefined if the client went away. */
export function readBody(req: IncomingMessage, length: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const body = Buffer.allocUnsafe(length);
    let offset = 0;
    const onData = (chunk: Buffer): void => {
      // Node's parser enforces content-length, so chunks never overflow `length`.
      chunk.copy(body, offset);
      offset += chunk.length;
    };
    const done = (): void => {
      req.off('data', onData);
      req.off('end', done);
      req.off('close', done);
      req.off('error', done);
      resolve(offset === length && req.complete ? body : undefined);
    };
    req.on('data', onData);
    req.on('end', done);
    req.on('close', done);
    req.on('error', done);
  });
}
