/**
 * The request half of the raw HTTP/1.1 listener's light pair (connection.ts): what the handler,
 * the attempt loop and the raw engine read of a node:http IncomingMessage, for the requests the
 * listener serves itself: HTTP/1.1, no upgrade, no Expect, no chunked body. A request without a
 * body (nearly all) is a plain object: it has nothing to read. One with a Content-Length is a
 * Readable the connection pushes the body into, with backpressure (RawBodyRequest).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { lowerCaseFieldName } from '../../net/header-name.js';

/** The connection a request came in on, as the request sees it. */
export interface RequestConnection {
  /** The body's reader wants more: reading the socket resumes if the body paused it. */
  readMore(): void;
}

/**
 * Fields node:http keeps the first of when a request repeats them (its `matchKnownFields`);
 * `set-cookie` becomes an array, `cookie` is joined with `; `, every other field with `, `.
 */
const FIRST_ONLY: ReadonlySet<string> = new Set([
  'content-type',
  'content-length',
  'user-agent',
  'referer',
  'host',
  'authorization',
  'proxy-authorization',
  'if-modified-since',
  'if-unmodified-since',
  'from',
  'location',
  'max-forwards',
  'retry-after',
  'etag',
  'last-modified',
  'server',
  'age',
  'expires',
]);

/** node:http's default `maxHeadersCount`: fields past it are left out of `headers` (rawHeaders keeps them). */
const MAX_HEADERS_COUNT = 2000;

/** `headers` as node:http builds it from the raw list: lower-case names, repeats merged by its rules. */
export function headersObject(raw: readonly string[]): IncomingHttpHeaders {
  const headers: Record<string, string | string[]> = {};
  const end = raw.length < MAX_HEADERS_COUNT * 2 ? raw.length : MAX_HEADERS_COUNT * 2;
  for (let i = 0; i < end; i += 2) {
    const name = lowerCaseFieldName(raw[i]!);
    const value = raw[i + 1]!;
    if (FIRST_ONLY.has(name)) {
      if (headers[name] === undefined) headers[name] = value;
    } else if (name === 'set-cookie') {
      const list = headers[name];
      if (list === undefined) headers[name] = [value];
      else (list as string[]).push(value);
    } else {
      // As node:http: only a string is joined (a name such as `constructor` finds Object's own property).
      const seen = headers[name];
      headers[name] = typeof seen === 'string' ? `${seen}${name === 'cookie' ? '; ' : ', '}${value}` : value;
    }
  }
  return headers as IncomingHttpHeaders;
}

export class RawRequest {
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor = 1;
  readonly httpVersion = '1.1';
  /** No body: the request is complete once its head is. */
  readonly complete = true;
  readonly readableDidRead = false;

  constructor(
    readonly socket: Socket,
    public method: string,
    public url: string,
    readonly rawHeaders: string[],
    public headers: IncomingHttpHeaders,
  ) {}

  // No body: nothing is ever emitted. The stream calls a bodyless request may get are accepted.
  on(): this {
    return this;
  }

  once(): this {
    return this;
  }

  off(): this {
    return this;
  }

  removeListener(): this {
    return this;
  }

  pause(): this {
    return this;
  }

  resume(): this {
    return this;
  }
}

/**
 * A request with a Content-Length body: a Readable the connection pushes the body's bytes into
 * (copies: a read may be in the shared read buffer); a full buffer pauses the socket until the reader wants more.
 * `complete` once the last byte arrived, as IncomingMessage's.
 */
export class RawBodyRequest extends Readable {
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor = 1;
  readonly httpVersion = '1.1';
  complete = false;

  constructor(
    readonly socket: Socket,
    public method: string,
    public url: string,
    readonly rawHeaders: string[],
    public headers: IncomingHttpHeaders,
    readonly connection: RequestConnection,
  ) {
    super();
  }

  override _read(): void {
    this.connection.readMore();
  }
}

export type AnyRawRequest = RawRequest | RawBodyRequest;
