/**
 * One kept-alive HTTP/1.1 connection of the raw engine: a `net` socket and Node's llhttp
 * response parser, carrying one exchange at a time (no pipelining upstream).
 *
 * The request head and a buffered body leave corked, in one write; a streamed body is
 * piped with backpressure (a full socket pauses the client request). The response head
 * goes to the exchange as llhttp's raw field list; a sink that is full pauses this socket
 * until the exchange resumes it. The body of an answer llhttp framed by Content-Length (the
 * common case) goes to the exchange as slices of the socket's own reads, counted down here:
 * llhttp would copy every chunk into a new Buffer and call back twice more per answer. The
 * parser stops right after such a head (a callback result that llhttp takes as "no body,
 * upgrade": it returns how much of the read the head took) and parses the next answer's head
 * without being initialized again; as it reports no error for that head, a read that completes
 * none is checked (net/llhttp.ts, STOP_AFTER_HEAD). Chunked and close-delimited bodies stay with llhttp.
 *
 * No socket timer (net re-arms one on every read and write): one deadline, which the pool's
 * DeadlineTimer enforces (deadline-timer.ts). Connecting: the connect timeout from the connect.
 * Awaiting the head: the response-header timeout from the moment the request was sent, moved on
 * by every chunk of a streamed request body (an upload that still moves is not a late answer);
 * head bytes that trickle in do not move it. Reading a body: the idle timeout from the last read
 * that left it unfinished (a response that arrived whole never sets one) or the last request
 * chunk sent. Parked: the pool's idle limit (UPSTREAM_IDLE_TIMEOUT_MS) from the parking, past
 * which it is neither reused nor kept. Every failure ends in `close`, which reports the recorded
 * cause to the exchange.
 */
import net, { type Socket } from 'node:net';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { SHARED_READ_BUFFER } from '../../net/shared-read-buffer.js';
import { writeDirect } from '../../net/direct-write.js';
import { HTTPParser, HeadParts, HeadReads, STOP_AFTER_HEAD, passedOver, setCallbacks, type LlhttpParser, type OnHeadersComplete } from '../../net/llhttp.js';
import { UPSTREAM_IDLE_TIMEOUT_MS, UpstreamProtocolError, UpstreamTimeoutError, isForwardableStatus } from '../forwarder.js';
import type { BodyFraming } from './raw-request-head.js';

/** What a connection reports to whoever holds the exchange (raw.ts's RawAttempt). */
export interface RawExchange {
  readonly method: string;
  readonly headerTimeout: number;
  readonly idleTimeout: number;
  /** The head is in; false = the exchange refused it and the body is read and dropped. */
  onHead(status: number, fields: string[]): void;
  /** false: stop reading until `resume()`. */
  onBody(chunk: Buffer): boolean;
  /** onBody of a view into the shared read buffer, valid during this call only: what is kept must be copied. */
  onBodyView(view: Buffer): boolean;
  onComplete(): void;
  onError(err: Error): void;
  /** After each upstream read is parsed: whatever the read produced for the client leaves now, in one write. */
  flush(): void;
}

/** The pool a connection belongs to. */
export interface ConnectionOwner {
  /** The exchange is over and the connection may carry another. */
  released(connection: RawConnection): void;
  closed(connection: RawConnection): void;
  /** The connection must be done with its current step by `at` (performance.now() ms): expire() is due then. */
  deadline(at: number): void;
}

const enum State {
  Connecting,
  Idle,
  AwaitingHead,
  Body,
  Closed,
}

const LAST_CHUNK = '0\r\n\r\n';
const EMPTY = Buffer.alloc(0);

/** kOnHeadersComplete results: llhttp frames the body (it knows 204 and 304 have none) / there is none (or STOP_AFTER_HEAD: we frame it). */
const LLHTTP_FRAMES_BODY = 0;
const NO_BODY = 1;

/**
 * The Content-Length of a head llhttp accepted, or -1 when llhttp must frame the body (no length,
 * a Transfer-Encoding, or a length past 2^53). llhttp has already refused every malformed or
 * duplicate length and a length beside a Transfer-Encoding; its value arrives trimmed.
 */
function framedLength(fields: string[]): number {
  let length = -1;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    if (name.length === 14 && name.toLowerCase() === 'content-length') length = Number(fields[i + 1]);
    else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') return -1;
  }
  return Number.isSafeInteger(length) ? length : -1;
}

export class RawConnection {
  readonly #socket: Socket;
  readonly #parser: LlhttpParser;
  readonly #parts = new HeadParts();
  #state = State.Connecting;
  #exchange: RawExchange | undefined;
  /** A streamed request body still being piped (undefined: none, or done). */
  #streaming: NodeJS.ReadableStream | undefined;
  #chunked = false;
  #keepAlive = true;
  #final = false;
  #error: Error | undefined;
  /** The async resource llhttp's initialize() asks for: the connection's own (async context is per connection). */
  readonly #parserResource = {};
  /** Body bytes of a Content-Length answer still to come, framed here (not by llhttp); 0 = none. */
  #remaining = 0;
  /** performance.now() ms by which the current step (connect, head, next body read, parked) must be done; Infinity: none. */
  #deadline = Infinity;
  /** The parser stopped after the last head and reports no parse error until the next completes (net/llhttp.ts). */
  #stopped = false;
  /** A head completed in the read being parsed. */
  #sawHead = false;
  /** While #stopped: the reads of the next head so far (parsed again if one looks wrong). */
  readonly #headReads = new HeadReads();
  /** #onMessageComplete is in the parser's kOnMessageComplete slot (else null: see #onHeadersComplete). */
  #completeCallback = true;

  constructor(
    readonly owner: ConnectionOwner,
    host: string,
    port: number,
    connectTimeout: number,
  ) {
    const socket = net.connect({ host, port, noDelay: true, onread: { buffer: SHARED_READ_BUFFER, callback: this.#onRead } });
    this.#socket = socket;
    this.#setDeadlineIn(connectTimeout);
    socket.once('connect', this.#onConnect);
    socket.on('end', this.#onEnd);
    socket.on('drain', this.#onDrain);
    socket.on('error', this.#onSocketError);
    socket.once('close', this.#onClose);
    const parser = new HTTPParser();
    this.#parser = parser;
    this.#initializeParser();
    setCallbacks(parser, {
      [HTTPParser.kOnHeaders]: this.#onHeaders,
      [HTTPParser.kOnHeadersComplete]: this.#onHeadersComplete,
      [HTTPParser.kOnBody]: this.#onBody,
      [HTTPParser.kOnMessageComplete]: this.#onMessageComplete,
    });
  }

  /** A fresh llhttp state (strict: no lenient flags). */
  #initializeParser(): void {
    this.#parser.initialize(HTTPParser.RESPONSE, this.#parserResource, http.maxHeaderSize, HTTPParser.kLenientNone);
    this.#stopped = false;
  }

  /**
   * The head so far (earlier reads and `data`) parsed again by a fresh parser: it reports the error
   * the stopped one passed over, or is left exactly where that one should be.
   */
  #parseAfresh(data: Buffer): number | Error {
    const joined = this.#headReads.take(data);
    this.#parts.clear();
    this.#initializeParser();
    return this.#parser.execute(joined);
  }

  /**
   * Parked, still open and parked for less than the idle limit: a socket the upstream
   * half-closed, or may be closing right now (its keep-alive ran out), must not take a request.
   */
  get reusable(): boolean {
    return this.#state === State.Idle && !this.#socket.readableEnded && performance.now() < this.#deadline;
  }

  /**
   * Sends one exchange: the head, then the body (a buffered one in the same write; a streamed
   * one piped from `stream`, re-chunked when `framing` says so).
   */
  start(exchange: RawExchange, head: string, body: Buffer | undefined, stream: NodeJS.ReadableStream | undefined, framing: BodyFraming): void {
    this.#exchange = exchange;
    this.#final = false;
    if (this.#state !== State.Connecting) {
      this.#state = State.AwaitingHead;
      this.#setDeadlineIn(exchange.headerTimeout);
    }
    const socket = this.#socket;
    if (body === undefined) {
      // One chunk leaves in one write anyway: corking would only queue and unqueue it.
      writeDirect(socket, head);
    } else {
      socket.cork();
      socket.write(head, 'latin1');
      socket.write(body);
      socket.uncork();
    }
    if (stream !== undefined && framing !== 'none') this.#pipe(stream, framing === 'chunked');
  }

  /** The exchange's sink drained. */
  resume(): void {
    if (this.#state === State.Body) this.#socket.resume();
  }

  /** The exchange is abandoned (client gone, body over the limit): the connection cannot be reused. */
  abort(err: Error): void {
    this.#fail(err);
  }

  /** Closes a parked connection (pool idle limit, retired pool, engine close). */
  close(): void {
    this.#socket.destroy();
  }

  readonly #onConnect = (): void => {
    if (this.#state !== State.Connecting) return;
    // A connection is opened for an exchange; without one (none can leave it before the connect) nothing would close it.
    if (this.#exchange === undefined) {
      this.#socket.destroy();
      return;
    }
    this.#state = State.AwaitingHead;
    this.#setDeadlineIn(this.#exchange.headerTimeout);
  };

  readonly #onRead = (bytes: number, buffer: Buffer): boolean => {
    this.#onData(buffer.subarray(0, bytes));
    return true;
  };

  /** One read, in the shared read buffer (net/shared-read-buffer.ts): nothing may keep `data` past this call. */
  #onData(data: Buffer): void {
    // The exchange of this read: the answer may end in it, and the connection pass to the next one.
    const exchange = this.#exchange;
    if (this.#remaining > 0) {
      this.#moveBody(data, 0);
      this.#afterRead(exchange, undefined);
      return;
    }
    if (this.#state !== State.AwaitingHead && this.#state !== State.Body) {
      // Bytes nobody asked for: the connection's framing can no longer be trusted.
      this.#fail(new UpstreamProtocolError(0));
      return;
    }
    let result: number | Error;
    this.#sawHead = false;
    try {
      result = this.#parser.execute(data);
    } catch (err) {
      // A callback threw (writing the client head): llhttp rethrows it from execute.
      result = err instanceof Error ? err : new Error(String(err));
    }
    if (this.#stopped && !this.#sawHead && typeof result === 'number') {
      // No head completed in it, so no callback ran that could throw, nor can one in a re-parse.
      if (passedOver(data, result, this.#headReads.bytes + data.length, http.maxHeaderSize)) result = this.#parseAfresh(data);
      else this.#headReads.add(data);
    }
    // The head said Content-Length: what the read holds past it is body.
    if (this.#remaining > 0 && typeof result === 'number' && result < data.length) this.#moveBody(data, result);
    this.#afterRead(exchange, result instanceof Error ? result : undefined);
  }

  /** Body bytes of a Content-Length answer from `offset` on; past its end they are bytes nobody asked for. */
  #moveBody(data: Buffer, offset: number): void {
    const available = data.length - offset;
    const length = available <= this.#remaining ? available : this.#remaining;
    this.#remaining -= length;
    // A view into the shared read buffer: the exchange copies what its sink may keep.
    if (this.#state === State.Body && !this.#exchange!.onBodyView(data.subarray(offset, offset + length))) {
      this.#socket.pause();
    }
    if (this.#remaining > 0) return;
    // More than the answer's length: the connection's framing can no longer be trusted.
    if (length < available) this.#keepAlive = false;
    this.#onMessageComplete();
  }

  /** After each read: what it produced for the client leaves now; a body still unfinished has the idle timeout from now. */
  #afterRead(exchange: RawExchange | undefined, error: Error | undefined): void {
    exchange?.flush();
    if (this.#state === State.Body) this.#setDeadlineIn(this.#exchange!.idleTimeout);
    if (error !== undefined) this.#fail(error);
  }

  /** The upstream closed its side: a body delimited by the close ends here. */
  readonly #onEnd = (): void => {
    if (this.#remaining > 0) {
      // Fewer bytes than the Content-Length: what llhttp's finish() reports for the same answer.
      this.#fail(Object.assign(new Error('upstream closed before the end of the body'), { code: 'HPE_INVALID_EOF_STATE' }));
    } else if (this.#state === State.Body || this.#state === State.AwaitingHead) {
      // A head cut short, which the stopped parser would not report: a fresh one parses it again first.
      let result = this.#stopped && !this.#headReads.empty ? this.#parseAfresh(EMPTY) : undefined;
      if (!(result instanceof Error)) result = this.#parser.finish();
      if (result instanceof Error) this.#fail(result);
    }
    this.#socket.destroy();
  };

  /**
   * The pool's DeadlineTimer fired at `now`: past its deadline, the connection fails with the
   * timeout of its step. The deadline still ahead (Infinity: none).
   */
  expire(now: number): number {
    const deadline = this.#deadline;
    if (deadline > now) return deadline;
    this.#deadline = Infinity;
    switch (this.#state) {
      case State.Connecting:
        this.#fail(new UpstreamTimeoutError('connect_timeout'));
        break;
      case State.AwaitingHead:
        this.#fail(new UpstreamTimeoutError('header_timeout'));
        break;
      case State.Body:
        this.#fail(new UpstreamTimeoutError('idle_timeout'));
        break;
      case State.Idle:
        // Parked past the pool's idle limit: closed, which takes it out of the pool.
        this.#socket.destroy();
        break;
    }
    return Infinity;
  }

  readonly #onSocketError = (err: Error): void => {
    this.#error ??= err;
  };

  readonly #onClose = (): void => {
    const exchange = this.#exchange;
    this.#state = State.Closed;
    this.#exchange = undefined;
    this.#unpipe();
    this.#parser.close();
    if (exchange !== undefined) exchange.onError(this.#error ?? resetError());
    this.owner.closed(this);
  };

  readonly #onHeaders = (fields: string[]): void => {
    if (!this.#final) this.#parts.add(fields);
  };

  readonly #onHeadersComplete: OnHeadersComplete = (_major, _minor, headers, _method, _url, status, _message, _upgrade, keepAlive) => {
    const fields = this.#parts.take(headers);
    // llhttp set its upgrade flag afresh for this head: errors are reported again (unless this head stops).
    this.#sawHead = true;
    this.#stopped = false;
    this.#headReads.clear();
    const exchange = this.#exchange;
    if (exchange === undefined || this.#state !== State.AwaitingHead) return LLHTTP_FRAMES_BODY;
    // 1xx interim answers (100 Continue, 103 Early Hints) are not passed on; 101 cannot be, here.
    if (status < 200 && status !== 101) return NO_BODY;
    if (!isForwardableStatus(status) || status === 101) {
      this.#fail(new UpstreamProtocolError(status));
      return NO_BODY;
    }
    this.#final = true;
    this.#keepAlive = keepAlive;
    this.#state = State.Body;
    exchange.onHead(status, fields);
    // The answer to HEAD has no body whatever its content-length says; nor have 204 and 304.
    if (exchange.method === 'HEAD') return this.#llhttpEnds(NO_BODY);
    if (status === 204 || status === 304) return this.#llhttpEnds(LLHTTP_FRAMES_BODY);
    const length = framedLength(fields);
    if (length <= 0) return this.#llhttpEnds(LLHTTP_FRAMES_BODY);
    this.#remaining = length;
    this.#stopped = true;
    // The message-complete llhttp reports at once after a stop is not this answer's end (#moveBody
    // counts it): the binding skips the call into JavaScript when the slot holds null.
    if (this.#completeCallback) {
      this.#completeCallback = false;
      this.#parser[HTTPParser.kOnMessageComplete] = null;
    }
    return STOP_AFTER_HEAD;
  };

  /** `result` for a final head whose end llhttp reports: #onMessageComplete must be in its slot. */
  #llhttpEnds(result: number): number {
    if (!this.#completeCallback) {
      this.#completeCallback = true;
      this.#parser[HTTPParser.kOnMessageComplete] = this.#onMessageComplete;
    }
    return result;
  }

  readonly #onBody = (chunk: Buffer): void => {
    if (this.#state !== State.Body) return;
    if (!this.#exchange!.onBody(chunk)) this.#socket.pause();
  };

  readonly #onMessageComplete = (): void => {
    // llhttp ends a head it stopped after at once: that answer ends when #remaining reaches 0.
    if (!this.#final || this.#state !== State.Body || this.#remaining > 0) return;
    const exchange = this.#exchange!;
    this.#exchange = undefined;
    this.#parts.clear();
    // A request body still streaming when the answer ended leaves the connection mid-request.
    const reusable = this.#keepAlive && this.#streaming === undefined;
    if (reusable) {
      this.#state = State.Idle;
      this.#setDeadlineIn(UPSTREAM_IDLE_TIMEOUT_MS);
      // Paused for a slow client on the last chunk: a parked socket must still see the upstream close.
      if (this.#socket.isPaused()) this.#socket.resume();
    } else {
      this.#unpipe();
      this.#state = State.Closed;
      this.#socket.destroy();
    }
    exchange.onComplete();
    if (reusable && this.#state === State.Idle) this.owner.released(this);
  };

  readonly #onDrain = (): void => {
    this.#streaming?.resume();
  };

  #pipe(stream: NodeJS.ReadableStream, chunked: boolean): void {
    this.#streaming = stream;
    this.#chunked = chunked;
    stream.on('data', this.#onRequestData);
    stream.once('end', this.#onRequestEnd);
    stream.resume();
  }

  readonly #onRequestData = (chunk: Buffer): void => {
    const socket = this.#socket;
    let ok: boolean;
    // The upload moves: an answer is not late yet, nor a body idle, while it does.
    if (this.#state === State.AwaitingHead) this.#setDeadlineIn(this.#exchange!.headerTimeout);
    else if (this.#state === State.Body) this.#setDeadlineIn(this.#exchange!.idleTimeout);
    if (this.#chunked) {
      socket.cork();
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      ok = socket.write('\r\n', 'latin1');
      socket.uncork();
    } else {
      ok = socket.write(chunk);
    }
    if (!ok) this.#streaming?.pause();
  };

  readonly #onRequestEnd = (): void => {
    if (this.#chunked) this.#socket.write(LAST_CHUNK, 'latin1');
    this.#unpipe();
  };

  #unpipe(): void {
    const stream = this.#streaming;
    if (stream === undefined) return;
    this.#streaming = undefined;
    stream.removeListener('data', this.#onRequestData);
    stream.removeListener('end', this.#onRequestEnd);
  }

  #fail(err: Error): void {
    this.#error ??= err;
    this.#socket.destroy();
  }

  /** The current step must be done within `ms` from now; 0 sets no limit (as socket.setTimeout(0) and undici's 0 do). */
  #setDeadlineIn(ms: number): void {
    if (ms > 0) {
      const at = performance.now() + ms;
      this.#deadline = at;
      this.owner.deadline(at);
    } else {
      this.#deadline = Infinity;
    }
  }
}

function resetError(): Error {
  return Object.assign(new Error('upstream closed the connection'), { code: 'ECONNRESET' });
}
