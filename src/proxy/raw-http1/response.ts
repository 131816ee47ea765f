/**
 * The response half of the raw HTTP/1.1 listener's light pair (connection.ts): the part of a
 * node:http ServerResponse the handler, the attempt loop, the raw and HTTP/2 engines, policy
 * steps (a compressor is piped into it) and the proxy's own error answers use — setHeader,
 * writeHead (a flat [name, value, …] list or an object), write with backpressure ('drain'), end,
 * cork, addTrailers, destroy, and 'finish' then 'close' once the last byte is handed to the
 * socket or the client is gone.
 *
 * The head is framed as node:http frames it: status line with Node's reason phrase, the given
 * fields, then Date, Connection (keep-alive with `Keep-Alive: timeout=5`, or close) and
 * `Transfer-Encoding: chunked` when a body has no Content-Length. No body after HEAD, 204, 304
 * or 1xx. A CR, LF or NUL in a field refuses the head (ERR_INVALID_CHAR, as node:http throws):
 * nothing reaches the socket.
 *
 * cork() is the response's own: while corked, the head and one body chunk of up to
 * MAX_HELD_CHUNK bytes wait here, and leave with what follows in one Buffer (the whole answer to
 * a proxied request is then one socket write, not three writes queued into a writev: ~5 k
 * instructions less a request). Anything else flushes what waits first.
 */
import { EventEmitter } from 'node:events';
import { STATUS_CODES, type OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { splitsHeaderLine, withFieldLine } from '../../net/header-line.js';
import { clientResponseLines } from '../headers.js';
import type { AnyRawRequest } from './request.js';

/** The connection a response goes out on, as the response sees it. */
export interface ResponseConnection {
  readonly socket: Socket;
  /** `Connection: keep-alive` and `Keep-Alive: timeout=N` lines, made once per listener configuration. */
  readonly keepAliveLines: string;
  /** The last bytes of the response (may be empty): written with the callback that ends the response. */
  endResponse(last: string | Buffer, close: boolean): void;
}

const CLOSE = /(?:^|[\s,])close(?:$|[\s,])/i;
const EMPTY = Buffer.alloc(0);
/** The largest body chunk held while corked (copied once into the answer's single write). */
const MAX_HELD_CHUNK = 16 * 1024;

/**
 * `head` (latin1), `body` and `last` as one write: a string when there are only strings, else
 * one Buffer. An empty `last` adds nothing.
 */
function joined(head: string | undefined, body: Buffer | undefined, last: string | Buffer): string | Buffer {
  if (body === undefined) {
    if (typeof last === 'string') return head === undefined ? last : head + last;
    if (last.length === 0 && head !== undefined) return head;
  }
  const headBytes = head === undefined ? 0 : head.length;
  const bodyBytes = body === undefined ? 0 : body.length;
  const out = Buffer.allocUnsafe(headBytes + bodyBytes + last.length);
  if (head !== undefined) out.write(head, 0, 'latin1');
  if (body !== undefined) out.set(body, headBytes);
  if (typeof last === 'string') out.write(last, headBytes + bodyBytes, 'latin1');
  else if (last.length > 0) out.set(last, headBytes + bodyBytes);
  return out;
}

let cachedDateSecond = -1;
let cachedDate = '';

/** The Date field's value, made once a second (as node:http's utcDate). */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== cachedDateSecond) {
    cachedDateSecond = second;
    cachedDate = new Date(now).toUTCString();
  }
  return cachedDate;
}

/** `HTTP/1.1 <status> <reason>\r\n` by status, made on first use: the line of nearly every answer repeats. */
const statusLines: string[] = [];

function statusLine(status: number): string {
  return (statusLines[status] ??= `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`);
}

function invalidChar(name: string): TypeError {
  return Object.assign(new TypeError(`Invalid character in header content ["${name}"]`), { code: 'ERR_INVALID_CHAR' });
}

/**
 * RawResponse is an EventEmitter (EventEmitter.prototype is its prototype's, below) that skips
 * EventEmitter's constructor: EventEmitter.init stores its fields through ICs that every emitter
 * class in the process shares (megamorphic) and makes the null-prototype listener map up front,
 * ~1.2 k instructions a response. Here the fields are the class's own, and the map is made by
 * the first listener, as EventEmitter's methods do when `_events` is undefined.
 */
export interface RawResponse extends EventEmitter {}

export class RawResponse {
  /** EventEmitter's own fields, as its constructor would set them (the map left for the first listener). */
  _events: Record<string | symbol, unknown> | undefined = undefined;
  _eventsCount = 0;
  _maxListeners: number | undefined = undefined;
  statusCode = 200;
  headersSent = false;
  writableEnded = false;
  writableFinished = false;
  destroyed = false;
  closed = false;
  /**
   * Bytes of this response handed to the socket (head, body, framing): the access log's
   * bytesOut, without node:net's bytesWritten getter (which copies the write queue to count it).
   */
  sentBytes = 0;
  /**
   * Called once, just before 'close' is emitted: the raw engine's attempt watches for the client
   * leaving here rather than with a listener, which costs EventEmitter's add, emit and remove (~2 k
   * instructions a request). One watcher at a time; whoever sets it clears it when done.
   */
  closeHook: (() => void) | undefined = undefined;
  /** setHeader's fields by lower-case name (proxy-made answers only). */
  #fields: Map<string, [string, string | number | readonly string[]]> | undefined;
  /** Trailer lines (addTrailers), written after a chunked body's last chunk. */
  #trailers = '';
  #hasBody: boolean;
  #chunked = false;
  /** The connection closes after this response (the request or the head said so). */
  #close: boolean;
  /** cork() depth; while above 0 the head and one small body chunk wait in #heldHead / #heldBody. */
  #corks = 0;
  #heldHead: string | undefined;
  #heldBody: Buffer | undefined;
  /** #heldBody is a caller's view (writeTransient), valid only until keepHeld(). */
  #heldIsView = false;

  readonly socket: Socket;

  constructor(
    readonly req: AnyRawRequest,
    readonly connection: ResponseConnection,
    keepAlive: boolean,
  ) {
    this.socket = connection.socket;
    this.#close = !keepAlive;
    this.#hasBody = req.method !== 'HEAD';
  }

  setHeader(name: string, value: string | number | readonly string[]): this {
    (this.#fields ??= new Map()).set(name.toLowerCase(), [name, value]);
    return this;
  }

  getHeader(name: string): string | number | readonly string[] | undefined {
    return this.#fields?.get(name.toLowerCase())?.[1];
  }

  hasHeader(name: string): boolean {
    return this.#fields?.has(name.toLowerCase()) ?? false;
  }

  removeHeader(name: string): void {
    this.#fields?.delete(name.toLowerCase());
  }

  /** Checked now (a CR, LF or NUL throws, as node:http's addTrailers does); sent after a chunked body only. */
  addTrailers(trailers: OutgoingHttpHeaders): void {
    const text = new HeadText('');
    for (const name in trailers) {
      const value = trailers[name];
      if (value !== undefined) text.addValues(name, value);
    }
    this.#trailers += text.text;
  }

  cork(): void {
    this.#corks++;
  }

  uncork(): void {
    if (this.#corks > 0 && --this.#corks === 0) this.#flushHeld();
  }

  /** What waits (head, body chunk) goes to the socket now. */
  #flushHeld(): void {
    const head = this.#heldHead;
    const body = this.#heldBody;
    if (head === undefined && body === undefined) return;
    this.#heldHead = undefined;
    this.#heldBody = undefined;
    this.#heldIsView = false;
    if (this.destroyed) return;
    const bytes = joined(head, body, EMPTY);
    this.sentBytes += bytes.length;
    if (typeof bytes === 'string') this.socket.write(bytes, 'latin1');
    else this.socket.write(bytes);
  }

  /** writeHead(status, [name, value, …]) or writeHead(status, { name: value }); setHeader's fields go first. */
  writeHead(status: number, headers?: readonly string[] | OutgoingHttpHeaders): this {
    this.#writeHead(status, headers, -1);
    return this;
  }

  write(chunk: Buffer | string): boolean {
    return this.#write(chunk, false);
  }

  /**
   * write() of bytes that are valid during this call only (a view into the shared read buffer:
   * the raw engine's plain path). Held as they are while corked, where the answer's single write
   * copies them anyway (one copy of a 16 KiB body instead of two); otherwise copied first. Whoever
   * passes a view calls keepHeld() before its bytes are reused.
   */
  writeTransient(view: Buffer): boolean {
    return this.#write(view, true);
  }

  /** A held view becomes a copy of itself: the bytes under it are about to be reused. */
  keepHeld(): void {
    if (!this.#heldIsView) return;
    this.#heldBody = Buffer.from(this.#heldBody!);
    this.#heldIsView = false;
  }

  #write(chunk: Buffer | string, transient: boolean): boolean {
    if (this.writableEnded || this.destroyed) return false;
    if (!this.headersSent) this.#writeHead(this.statusCode, undefined, -1);
    if (!this.#hasBody || chunk.length === 0) return true;
    if (this.#chunked) return this.#writeChunk(transient ? Buffer.from(chunk as Buffer) : chunk);
    if (this.#corks > 0 && this.#heldBody === undefined && typeof chunk !== 'string' && chunk.length <= MAX_HELD_CHUNK) {
      this.#heldBody = chunk;
      this.#heldIsView = transient;
      return true;
    }
    this.#flushHeld();
    this.sentBytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    return this.socket.write(transient ? Buffer.from(chunk as Buffer) : chunk);
  }

  end(chunk?: Buffer | string): this {
    if (this.writableEnded) return this;
    if (this.destroyed) {
      this.writableEnded = true;
      return this;
    }
    const given = chunk === undefined ? EMPTY : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    // Head, body and end leave in one write: the head waits while corked.
    this.#corks++;
    try {
      // A whole answer in one end(): its length is known (node:http sends Content-Length too).
      // A head refused (ERR_INVALID_CHAR) throws here and leaves the response unended, as node:http does.
      if (!this.headersSent) this.#writeHead(this.statusCode, undefined, given.length);
    } finally {
      this.#corks--;
    }
    this.writableEnded = true;
    const body = this.#hasBody ? given : EMPTY;
    if (this.#chunked) {
      const socket = this.socket;
      socket.cork();
      if (body.length > 0) this.#writeChunk(body);
      this.#end(`0\r\n${this.#trailers}\r\n`);
      socket.uncork();
    } else {
      this.#end(body);
    }
    return this;
  }

  /** The response's last bytes, with whatever waits ahead of them, in one write. */
  #end(last: string | Buffer): void {
    const head = this.#heldHead;
    const body = this.#heldBody;
    this.#heldHead = undefined;
    this.#heldBody = undefined;
    this.#heldIsView = false;
    const bytes = head === undefined && body === undefined ? last : joined(head, body, last);
    this.sentBytes += bytes.length;
    this.connection.endResponse(bytes, this.#close);
  }

  #writeChunk(chunk: Buffer | string): boolean {
    const socket = this.socket;
    socket.cork();
    this.#flushHeld();
    const length = Buffer.byteLength(chunk);
    const size = `${length.toString(16)}\r\n`;
    this.sentBytes += size.length + length + 2;
    socket.write(size, 'latin1');
    socket.write(chunk);
    const ok = socket.write('\r\n', 'latin1');
    socket.uncork();
    return ok;
  }

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.#heldHead = undefined;
    this.#heldBody = undefined;
    this.#heldIsView = false;
    this.socket.destroy();
    return this;
  }

  /** The last byte went to the socket (connection.ts). */
  finished(): void {
    this.writableFinished = true;
    this.emit('finish');
    this.#closed();
  }

  /** The connection closed before the response finished (client gone, or destroyed). */
  aborted(): void {
    this.destroyed = true;
    this.#closed();
  }

  #closed(): void {
    if (this.closed) return;
    this.closed = true;
    const hook = this.closeHook;
    if (hook !== undefined) {
      this.closeHook = undefined;
      hook();
    }
    this.emit('close');
  }

  /**
   * writeHead for a proxied answer nothing edits (HttpExchange's plain path): the upstream's raw
   * list as strict llhttp gave it (names are tokens; no value can hold a CR, LF or NUL, so none is
   * checked again) with the request id, filtered as clientResponseHead filters it and written in
   * one pass. false, with nothing written: setHeader was used, or the upstream's Connection field
   * names other fields; writeHead with clientResponseHead's list then.
   */
  writeProxiedHead(status: number, raw: readonly string[], requestId: string): boolean {
    if (this.headersSent) return true;
    if (this.#fields !== undefined) return false;
    const lines = clientResponseLines(raw, requestId);
    if (lines === undefined) return false;
    this.#setStatus(status);
    this.#writeHeadText(statusLine(status) + lines.text, lines.hasDate, false, lines.hasLength, -1);
    return true;
  }

  #setStatus(status: number): void {
    this.statusCode = status;
    if (status === 204 || status === 304 || (status >= 100 && status < 200)) this.#hasBody = false;
  }

  /** `knownLength` ≥ 0: end() with the whole body, no Content-Length given → that length. */
  #writeHead(status: number, headers: readonly string[] | OutgoingHttpHeaders | undefined, knownLength: number): void {
    if (this.headersSent) return;
    this.#setStatus(status);
    const head = new HeadText(statusLine(status));
    if (this.#fields !== undefined) for (const [name, value] of this.#fields.values()) head.addValues(name, value);
    if (Array.isArray(headers)) {
      const list = headers as readonly string[];
      // Names here are llhttp's (tokens) or the proxy's own: only the values are checked.
      for (let i = 0; i < list.length; i += 2) head.addChecked(list[i]!, list[i + 1]!);
    } else if (headers !== undefined) {
      const fields = headers as OutgoingHttpHeaders;
      for (const name in fields) {
        const value = fields[name];
        if (value !== undefined) head.addValues(name, value);
      }
    }
    if (head.closes) this.#close = true;
    this.#writeHeadText(head.text, head.hasDate, head.hasConnection, head.hasLength, knownLength);
  }

  /** The head's fields are in `text` (status line first): Date, Connection and the framing go after them. */
  #writeHeadText(text: string, hasDate: boolean, hasConnection: boolean, hasLength: boolean, knownLength: number): void {
    if (!hasDate) text += `Date: ${httpDate()}\r\n`;
    if (!hasConnection) text += this.#close ? 'Connection: close\r\n' : this.connection.keepAliveLines;
    if (this.#hasBody && !hasLength) {
      if (knownLength >= 0) text += `Content-Length: ${knownLength}\r\n`;
      else {
        text += 'Transfer-Encoding: chunked\r\n';
        this.#chunked = true;
      }
    }
    this.headersSent = true;
    if (this.#corks > 0) this.#heldHead = `${text}\r\n`;
    else {
      this.sentBytes += text.length + 2;
      this.socket.write(`${text}\r\n`, 'latin1');
    }
  }
}

/** A head (or trailer section) being written: its lines and what the framing needs to know of them. */
class HeadText {
  hasLength = false;
  hasConnection = false;
  hasDate = false;
  /** A Connection field says close. */
  closes = false;

  constructor(public text: string) {}

  add(name: string, value: string): void {
    if (splitsHeaderLine(name)) throw invalidChar(name);
    this.addChecked(name, value);
  }

  /** A field whose name is known to be a token. */
  addChecked(name: string, value: string): void {
    if (splitsHeaderLine(value)) throw invalidChar(name);
    this.text = withFieldLine(this.text, name, value);
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'date') this.hasDate = true;
        break;
      case 10:
        if (name.toLowerCase() === 'connection') {
          this.hasConnection = true;
          if (CLOSE.test(value)) this.closes = true;
        }
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') this.hasLength = true;
        break;
    }
  }

  addValues(name: string, value: string | number | readonly string[]): void {
    if (Array.isArray(value)) for (const one of value as readonly string[]) this.add(name, one);
    else this.add(name, String(value));
  }
}

Object.setPrototypeOf(RawResponse.prototype, EventEmitter.prototype);
