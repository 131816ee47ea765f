/**
 * `compress` (DESIGN §8): gzip or brotli (node:zlib) of upstream answers, streamed.
 *
 * Compresses only when all hold: the client accepts br or gzip (Accept-Encoding,
 * q-values and `*`; br wins a tie: it is smaller at a similar CPU cost at the levels
 * used here), the upstream did not encode (no Content-Encoding), the content type is
 * one of `types`, the length is unknown or ≥ minBytes, and the answer is not to HEAD,
 * not 1xx/204/304, not a range (206, Content-Range) and not marked Cache-Control:
 * no-transform.
 *
 * The head then loses Content-Length and Accept-Ranges, gets Content-Encoding and
 * `Vary: Accept-Encoding` (appended to the upstream's Vary), and a strong ETag becomes
 * weak (W/"…", as nginx does): the bytes differ but the content is the same.
 *
 * An answer of known length up to ONE_SHOT_MAX_BYTES is collected and compressed in one
 * synchronous call: measured on this 2-core machine, 64 concurrent 16 KiB brotli streams cost
 * ~770 µs of CPU per response (an encoder per stream on the thread pool, each with its own
 * window) against ~100–140 µs for one-shot calls sized by BROTLI_PARAM_SIZE_HINT.
 * Longer or unknown-length answers stream: the engines write to the returned compressor and
 * wait for its 'drain'; the compressor is piped into the client response, so a slow client
 * holds back the upstream (bounded memory). Server-sent events are flushed on every chunk. A
 * compressor error cuts the client response; the client leaving destroys the
 * compressor (its native memory is freed at once, not at the next GC).
 */
import { Writable } from 'node:stream';
import zlib from 'node:zlib';
import type { CompressConfig } from '../config/policy-schema.js';
import { appendVary, FieldNames, isField, removeFields } from './head.js';
import type { PolicyRequest, ResponseStep } from './step.js';

export type Encoding = 'br' | 'gzip';

/**
 * gzip level 5 and brotli quality 4: most of the size win for a fraction of the CPU of the maximum.
 * Brotli's window is 256 KiB (lgwin 18) instead of its 4 MiB default: every response being
 * compressed holds its own window, so this bounds memory per concurrent response; bodies
 * streamed through a proxy rarely gain from a longer window.
 */
const GZIP_OPTIONS: zlib.ZlibOptions = { level: 5 };
const BROTLI_OPTIONS: zlib.BrotliOptions = {
  params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4, [zlib.constants.BROTLI_PARAM_LGWIN]: 18 },
};
/** Known-length answers up to this size are compressed in one call (see the file comment). */
export const ONE_SHOT_MAX_BYTES = 64 * 1024;
const GZIP_SSE_OPTIONS: zlib.ZlibOptions = { ...GZIP_OPTIONS, flush: zlib.constants.Z_SYNC_FLUSH };
const BROTLI_SSE_OPTIONS: zlib.BrotliOptions = { ...BROTLI_OPTIONS, flush: zlib.constants.BROTLI_OPERATION_FLUSH };

/**
 * Fields dropped from a head that gets compressed: the length and ranges refer to the original
 * bytes, and a Content-Encoding there (only `identity` gets this far) is replaced.
 */
const DROPPED = new FieldNames(['content-length', 'accept-ranges', 'content-encoding']);

/**
 * The coding to use for an Accept-Encoding value, or undefined for none. A coding not
 * listed takes the q of `*`; q=0 refuses it.
 */
export function negotiateEncoding(header: string): Encoding | undefined {
  let br = -1;
  let gzip = -1;
  let star = -1;
  for (const part of header.split(',')) {
    const semi = part.indexOf(';');
    const coding = (semi === -1 ? part : part.slice(0, semi)).trim().toLowerCase();
    const q = semi === -1 ? 1 : qValue(part.slice(semi + 1));
    if (coding === 'br') br = q;
    else if (coding === 'gzip' || coding === 'x-gzip') gzip = Math.max(gzip, q);
    else if (coding === '*') star = q;
  }
  if (br === -1) br = Math.max(star, 0);
  if (gzip === -1) gzip = Math.max(star, 0);
  if (br <= 0 && gzip <= 0) return undefined;
  return br >= gzip ? 'br' : 'gzip';
}

/** `q=0.5` among a coding's parameters; a malformed q counts as 0 (refused). */
function qValue(params: string): number {
  const match = /(?:^|;)\s*q\s*=\s*([0-9.]{1,5})\s*(?:;|$)/i.exec(params);
  if (match === null) return 1;
  const q = Number(match[1]);
  return q >= 0 && q <= 1 ? q : 0;
}

/** `text/*` and exact media types, compiled once. */
export class MediaTypes {
  readonly #exact: ReadonlySet<string>;
  readonly #prefixes: readonly string[];

  constructor(types: readonly string[]) {
    const lower = types.map((type) => type.toLowerCase());
    this.#exact = new Set(lower.filter((type) => !type.endsWith('/*')));
    this.#prefixes = lower.filter((type) => type.endsWith('/*')).map((type) => type.slice(0, -1));
  }

  /** Whether a Content-Type value (parameters allowed) is one of the types. */
  matches(contentType: string): boolean {
    const semi = contentType.indexOf(';');
    const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
    if (this.#exact.has(type)) return true;
    for (const prefix of this.#prefixes) if (type.startsWith(prefix)) return true;
    return false;
  }
}

export class Compress implements ResponseStep {
  readonly #types: MediaTypes;
  readonly #minBytes: number;
  /** Clients send the same few Accept-Encoding values over and over: the last answer is kept. */
  #lastAccept = '';
  #lastEncoding: Encoding | undefined;

  constructor(config: CompressConfig) {
    this.#types = new MediaTypes(config.types);
    this.#minBytes = config.minBytes;
  }

  #encodingFor(accept: string): Encoding | undefined {
    if (accept !== this.#lastAccept) {
      this.#lastEncoding = negotiateEncoding(accept);
      this.#lastAccept = accept;
    }
    return this.#lastEncoding;
  }

  onHead(request: PolicyRequest, status: number, head: string[], sink: Writable): Writable {
    if (status < 200 || status === 204 || status === 206 || status === 304) return sink;
    const { req } = request;
    const accept = req.headers['accept-encoding'];
    if (accept === undefined || req.method === 'HEAD') return sink;
    const encoding = this.#encodingFor(accept);
    if (encoding === undefined) return sink;

    let contentType: string | undefined;
    let length = -1;
    let etag = -1;
    for (let i = 0; i < head.length; i += 2) {
      const name = head[i]!;
      const value = head[i + 1]!;
      if (isField(name, 'content-type')) contentType = value;
      else if (isField(name, 'content-length')) {
        length = Number(value);
        if (length < this.#minBytes) return sink;
      } else if (isField(name, 'content-encoding')) {
        if (value.trim().toLowerCase() !== 'identity') return sink;
      } else if (isField(name, 'content-range')) return sink;
      else if (isField(name, 'cache-control')) {
        if (value.toLowerCase().includes('no-transform')) return sink;
      } else if (isField(name, 'etag')) etag = i + 1;
    }
    if (contentType === undefined || !this.#types.matches(contentType)) return sink;

    if (etag !== -1 && !head[etag]!.startsWith('W/')) head[etag] = `W/${head[etag]!}`;
    removeFields(head, DROPPED);
    head.push('content-encoding', encoding);
    appendVary(head, 'Accept-Encoding');
    const sse = contentType.toLowerCase().startsWith('text/event-stream');
    if (!sse && length >= 0 && length <= ONE_SHOT_MAX_BYTES) return new OneShotCompressor(encoding, length, sink, request);
    return pipeThrough(createCompressor(encoding, sse), sink, request);
  }
}

export function createCompressor(encoding: Encoding, flushEachChunk: boolean): zlib.Gzip | zlib.BrotliCompress {
  if (encoding === 'br') return zlib.createBrotliCompress(flushEachChunk ? BROTLI_SSE_OPTIONS : BROTLI_OPTIONS);
  return zlib.createGzip(flushEachChunk ? GZIP_SSE_OPTIONS : GZIP_OPTIONS);
}

/** compressor → sink, with backpressure; an error on either side ends both. */
function pipeThrough(compressor: zlib.Gzip | zlib.BrotliCompress, sink: Writable, request: PolicyRequest): Writable {
  const { res } = request;
  compressor.on('error', () => res.destroy());
  // The client left (or the response ended): free the compressor's native memory now.
  res.once('close', () => compressor.destroy());
  compressor.pipe(sink);
  return compressor;
}

/**
 * Collects a known-length answer and writes it compressed in one synchronous call when it ends.
 * Holds at most ONE_SHOT_MAX_BYTES; each write is acknowledged at once (the bytes are copied
 * into this buffer), so the upstream is read as fast as a streamed body would be.
 */
class OneShotCompressor extends Writable {
  readonly #encoding: Encoding;
  readonly #sink: Writable;
  readonly #request: PolicyRequest;
  readonly #body: Buffer;
  #filled = 0;

  constructor(encoding: Encoding, length: number, sink: Writable, request: PolicyRequest) {
    super();
    this.#encoding = encoding;
    this.#sink = sink;
    this.#request = request;
    this.#body = Buffer.allocUnsafe(length);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    if (this.#filled + chunk.length > this.#body.length) {
      // More bytes than the upstream's Content-Length (undici and node:http refuse that first): cut the answer.
      this.#request.res.destroy();
    } else {
      chunk.copy(this.#body, this.#filled);
      this.#filled += chunk.length;
    }
    callback();
  }

  override _final(callback: () => void): void {
    const { res } = this.#request;
    if (!res.destroyed) {
      const body = this.#filled === this.#body.length ? this.#body : this.#body.subarray(0, this.#filled);
      try {
        this.#sink.end(
          this.#encoding === 'br'
            ? zlib.brotliCompressSync(body, { params: { ...BROTLI_OPTIONS.params, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length } })
            : zlib.gzipSync(body, GZIP_OPTIONS),
        );
      } catch {
        res.destroy();
      }
    }
    // The attempt ends when the client response closes (the engines watch it), not with this stream.
    callback();
  }
}

export function buildCompress(config: CompressConfig): Compress {
  return new Compress(config);
}
