/**
 * One client connection of the raw HTTP/1.1 listener (issue 21): Node's own llhttp binding in
 * REQUEST mode, strict, on the accepted socket, one request at a time, and a light
 * request/response pair (request.ts, response.ts) for the handler instead of node:http's
 * IncomingMessage and ServerResponse, its header-map building, its per-request timers and its
 * stream machinery.
 *
 * It serves itself the requests nearly all traffic is made of: HTTP/1.1 with a Host, no body or
 * a Content-Length one, no Upgrade or CONNECT, no Expect, not gRPC. At the first request that is anything else
 * the connection goes to node:http for good (`handOff`): the bytes of that request and all
 * after it are put back on the socket and node:http parses them as if it had accepted the
 * connection itself, so bodies, 100-continue, upgrades (the WebSocket path) and node:http's
 * answers to what it refuses stay exactly as they were. Routes with a policy are served here too:
 * their steps use only what the light pair has (the policy suites run on it).
 *
 * llhttp is told to stop after each head (the "no body, upgrade" result of kOnHeadersComplete):
 * a Content-Length body is counted off the following bytes here and pushed into the request
 * (RawBodyRequest); bytes past it — a pipelined request — wait until the answer is out, then are
 * parsed. A body not read to its end when the answer is out closes the connection. After a
 * stop llhttp reports no parse error until the next head completes: a read that completes none is
 * checked, and a suspect head parsed again by a fresh parser (net/llhttp.ts, STOP_AFTER_HEAD).
 *
 * Timeouts as node:http keeps them, without a timer per request or per read: the listener's sweep
 * (RawHttp1Connections) checks the head timeout (408 once `limits.headersTimeout` passed since the
 * connection opened or the previous answer ended and bytes began) and the keep-alive timeout (5 s
 * idle between requests) against the time the connection's phase began, and socket inactivity
 * (`timeouts.idle`, node:http's server.timeout) against the bytes the socket has moved.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import { HTTPParser, HeadParts, HeadReads, STOP_AFTER_HEAD, passedOver, setCallbacks, type LlhttpParser, type OnHeadersComplete } from '../../net/llhttp.js';
import { isGrpc } from '../grpc.js';
import { readAsStream, readIntoSharedBuffer } from '../../net/shared-read-buffer.js';
import { writeDirect } from '../../net/direct-write.js';
import { RawBodyRequest, RawRequest, headersObject, type RequestConnection } from './request.js';
import { RawResponse, type ResponseConnection } from './response.js';

const require = createRequire(import.meta.url);
const { methods: METHODS } = require('_http_common') as { methods: readonly string[] };

/** Pipelined bytes held while a request is answered before the socket stops being read. */
const MAX_HELD_BYTES = 64 * 1024;
const EMPTY = Buffer.alloc(0);

export interface RawHttp1Hooks {
  /** The request listener (http-server.ts's onRequest), given the light pair in node:http's place. */
  onRequest(req: IncomingMessage, res: ServerResponse): void;
  /** A request llhttp refused, or a head that took too long (ERR_HTTP_REQUEST_TIMEOUT): answered and closed. */
  onClientError(err: NodeJS.ErrnoException, socket: Duplex): void;
  /** node:http takes the connection over (the bytes it has not seen are back on the socket). */
  handOff(socket: Socket): void;
}

export interface RawHttp1Limits {
  maxHeaderBytes: number;
  headersTimeout: number;
  keepAliveTimeout: number;
  /** Client socket inactivity (timeouts.idle). */
  idleTimeout: number;
  /** A request body must have arrived this long after its head (node:http's requestTimeout). */
  requestTimeout: number;
}

const enum Phase {
  /** Waiting for, or reading, a request head. */
  Head,
  /** A request is being answered. */
  Answering,
  /** Between requests. */
  KeepAlive,
  /** Closed, or given to node:http. */
  Gone,
}

export class RawHttp1Connection implements RequestConnection, ResponseConnection {
  readonly #parser: LlhttpParser;
  readonly #parts = new HeadParts();
  readonly #parserResource = {};
  #phase = Phase.Head;
  /** performance.now() when the phase began (head: the connection opened or the first byte came). */
  since = performance.now();
  /** Reads that carried the head so far, before the one that completed it (a head across reads). */
  readonly #headReads = new HeadReads();
  /** The parser stopped after a head and has not been initialized since: it reports no parse error (net/llhttp.ts). */
  #stopped = false;
  /** The read that completed the current request's head, and where the head ended in it. */
  #headRead: Buffer = EMPTY;
  #headEnd = 0;
  /** Bytes past the current request's head (pipelined), parsed once it is answered. */
  #held: Buffer | undefined;
  #response: RawResponse | undefined;
  /** The current request's body still arriving, and how many of its bytes are still to come. */
  #body: RawBodyRequest | undefined;
  #bodyLeft = 0;
  /** Reading stopped because the body's reader is full. */
  #bodyPaused = false;
  // kOnHeadersComplete's arguments, kept for after execute() (no object per head).
  #headDone = false;
  #major = 0;
  #minor = 0;
  #fields: string[] = [];
  #method = 0;
  #url = '';
  #urlParts = '';
  #upgrade = false;
  #keepAlive = false;
  readonly keepAliveLines: string;
  /** Bytes the socket had read and written when the sweep last saw them change, and when (#checkInactivity). */
  #moved = 0;
  #movedAt = performance.now();

  constructor(
    readonly socket: Socket,
    readonly limits: RawHttp1Limits,
    readonly hooks: RawHttp1Hooks,
    readonly owner: RawHttp1Connections,
  ) {
    this.keepAliveLines = `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(limits.keepAliveTimeout / 1000)}\r\n`;
    const parser = new HTTPParser();
    this.#parser = parser;
    this.#initializeParser();
    setCallbacks(parser, { [HTTPParser.kOnHeaders]: this.#onHeaders, [HTTPParser.kOnHeadersComplete]: this.#onHeadersComplete });
    // Bytes the socket's stream already holds (put back after sniffing) come as 'data'; every read after, from the shared buffer.
    socket.on('data', this.#onData);
    readIntoSharedBuffer(socket, this.#onRead);
    socket.on('end', this.#onEnd);
    socket.on('drain', this.#onDrain);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
  }


  /** Between requests (a graceful stop closes these at once). */
  get idle(): boolean {
    return this.#phase === Phase.KeepAlive || (this.#phase === Phase.Head && this.#headReads.empty);
  }

  /**
   * The sweep: a head past its timeout gets 408, a connection idle past the keep-alive timeout is
   * closed, and so is one whose socket moved no byte either way for `timeouts.idle`.
   */
  check(now: number): void {
    if (this.#phase === Phase.Head && now - this.since > this.limits.headersTimeout) {
      this.#refuse(requestTimeout());
    } else if (this.#phase === Phase.KeepAlive && now - this.since > this.limits.keepAliveTimeout) {
      this.destroy();
    } else if (this.#bodyLeft > 0 && now - this.since > this.limits.requestTimeout) {
      // A body too slow to arrive: 408 while nothing was answered yet, as node:http; else the connection is cut.
      if (this.#response?.headersSent === false) this.#refuse(requestTimeout());
      else this.destroy();
    } else if (this.limits.idleTimeout > 0) {
      this.#checkInactivity(now);
    }
  }

  /**
   * node:http's server.timeout, without a socket timer: net refreshes a socket's timer on every read
   * and write (~560 instructions each, two a request here). The sweep instead notes whether bytes
   * moved since it last looked (the handle counts both ways), so the limit holds to within a sweep.
   */
  #checkInactivity(now: number): void {
    const socket = this.socket;
    const moved = socket.bytesRead + socket.bytesWritten;
    if (moved !== this.#moved) {
      this.#moved = moved;
      this.#movedAt = now;
    } else if (now - this.#movedAt > this.limits.idleTimeout) {
      this.destroy();
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  #initializeParser(): void {
    this.#parser.initialize(HTTPParser.REQUEST, this.#parserResource, this.limits.maxHeaderBytes, HTTPParser.kLenientNone);
    this.#stopped = false;
  }

  /**
   * The head so far (earlier reads and `data`) parsed again by a fresh parser: it reports the error
   * the stopped one passed over, or is left exactly where that one should be. Returns what execute()
   * returned for the joined bytes, which become the head's only read.
   */
  #parseAfresh(data: Buffer): { data: Buffer; result: number | Error } {
    const joined = this.#headReads.take(data);
    this.#parts.clear();
    this.#urlParts = '';
    this.#headDone = false;
    this.#initializeParser();
    return { data: joined, result: this.#parser.execute(joined) };
  }

  readonly #onRead = (bytes: number, buffer: Buffer): boolean => {
    this.#onData(buffer.subarray(0, bytes));
    return true;
  };

  /** One read, possibly in the shared read buffer (net/shared-read-buffer.ts): what is kept past this call is copied. */
  readonly #onData = (data: Buffer): void => {
    switch (this.#phase) {
      case Phase.Answering:
        if (this.#bodyLeft > 0) this.#feedBody(data);
        else this.#hold(data);
        return;
      case Phase.KeepAlive:
        this.#phase = Phase.Head;
        this.since = performance.now();
        this.#parse(data);
        return;
      case Phase.Head:
        this.#parse(data);
        return;
      default:
    }
  };

  /** A pipelined request arriving while one is answered: kept, and reading stops past a bound. */
  #hold(data: Buffer): void {
    this.#held = this.#held === undefined ? Buffer.from(data) : Buffer.concat([this.#held, data]);
    if (this.#held.length > MAX_HELD_BYTES) this.socket.pause();
  }

  /** `data` starts a request head or continues one. */
  #parse(read: Buffer): void {
    this.#headDone = false;
    let data = read;
    let result = this.#parser.execute(data);
    if (this.#stopped && !this.#headDone && typeof result === 'number' && passedOver(data, result, this.#headReads.bytes + data.length, this.limits.maxHeaderBytes)) {
      ({ data, result } = this.#parseAfresh(data));
    }
    if (result instanceof Error) {
      this.#refuse(result as NodeJS.ErrnoException);
      return;
    }
    if (!this.#headDone) {
      this.#headReads.add(data);
      return;
    }
    this.#headRead = data;
    this.#headEnd = result;
    if (result < data.length) this.#held = Buffer.from(data.subarray(result));
    this.#stopped = true;
    this.#start();
  }

  /** A complete head: served here, or the connection goes to node:http. */
  #start(): void {
    const fields = this.#fields;
    const method = METHODS[this.#method] ?? 'GET';
    if (this.#upgrade || this.#major !== 1 || this.#minor !== 1 || method === 'CONNECT') {
      this.#handOff();
      return;
    }
    const headers = headersObject(fields);
    const length = headers['content-length'];
    const bodyLength = length === undefined ? 0 : Number(length);
    if (
      headers.host === undefined ||
      headers['transfer-encoding'] !== undefined ||
      !Number.isSafeInteger(bodyLength) ||
      headers.expect !== undefined ||
      isGrpc(headers)
    ) {
      this.#handOff();
      return;
    }
    const req =
      bodyLength === 0
        ? new RawRequest(this.socket, method, this.#url, fields, headers)
        : new RawBodyRequest(this.socket, method, this.#url, fields, headers, this);
    const res = new RawResponse(req, this, this.#keepAlive);
    this.#response = res;
    this.#phase = Phase.Answering;
    this.hooks.onRequest(req as unknown as IncomingMessage, res as unknown as ServerResponse);
    // Closed meanwhile: the body's bytes are nobody's.
    if (bodyLength === 0 || this.#phase !== Phase.Answering || this.#response !== res) return;
    this.#body = req as RawBodyRequest;
    this.#bodyLeft = bodyLength;
    this.since = performance.now();
    const rest = this.#held;
    this.#held = undefined;
    if (rest !== undefined) this.#feedBody(rest);
  }

  /** Bytes while a body is arriving: its part goes to the request, the rest (a pipelined request) is held. */
  #feedBody(data: Buffer): void {
    const body = this.#body!;
    const take = data.length <= this.#bodyLeft ? data.length : this.#bodyLeft;
    this.#bodyLeft -= take;
    const wantsMore = body.push(Buffer.from(data.subarray(0, take)));
    if (this.#bodyLeft === 0) {
      body.complete = true;
      body.push(null);
    } else if (!wantsMore) {
      this.#bodyPaused = true;
      this.socket.pause();
    }
    if (take < data.length) this.#hold(data.subarray(take));
  }

  readMore(): void {
    if (!this.#bodyPaused) return;
    this.#bodyPaused = false;
    this.socket.resume();
  }

  /**
   * node:http takes the connection from the current request on (its head, what followed it):
   * nothing of that request was answered. Every listener of this connection comes off the socket.
   */
  #handOff(): void {
    if (this.#phase === Phase.Gone) return;
    this.#phase = Phase.Gone;
    this.#response = undefined;
    const socket = this.socket;
    socket.off('data', this.#onData);
    socket.off('end', this.#onEnd);
    socket.off('drain', this.#onDrain);
    socket.off('error', this.#onError);
    socket.off('close', this.#onClose);
    this.#parser.close();
    this.owner.delete(this);
    const head = this.#headReads.take(this.#headRead.subarray(0, this.#headEnd));
    const held = this.#held;
    this.#held = undefined;
    socket.pause();
    // A copy: the head's read may be in the shared read buffer. node:http's reads then come through the stream.
    socket.unshift(Buffer.concat(held === undefined ? [head] : [head, held]));
    readAsStream(socket);
    this.hooks.handOff(socket);
    socket.resume();
  }

  /** The response's last bytes; the response ends when they are handed to the socket. */
  endResponse(last: string | Buffer, close: boolean): void {
    if (close) this.#keepAlive = false;
    writeDirect(this.socket, last, this.#onFlushed);
  }

  readonly #onFlushed = (err?: Error | null): void => {
    const res = this.#response;
    if (res === undefined) return;
    this.#response = undefined;
    this.#headReads.clear();
    this.#headRead = EMPTY;
    // The answer is out before the body's end: what is left of it would be read as the next request.
    if (this.#bodyLeft > 0) this.#keepAlive = false;
    this.#body = undefined;
    this.#bodyLeft = 0;
    if (err != null || this.#phase !== Phase.Answering) {
      res.aborted();
      return;
    }
    res.finished();
    if (!this.#keepAlive) {
      this.#phase = Phase.Gone;
      this.socket.destroySoon();
      return;
    }
    this.#phase = Phase.KeepAlive;
    this.since = performance.now();
    const held = this.#held;
    if (held === undefined) return;
    this.#held = undefined;
    if (this.socket.isPaused()) this.socket.resume();
    this.#phase = Phase.Head;
    this.#parse(held);
  };

  /** A request refused before it reached the handler: answered as node:http's clientError would be, then closed. */
  #refuse(err: NodeJS.ErrnoException): void {
    if (this.#phase === Phase.Gone) return;
    this.#phase = Phase.Gone;
    this.socket.off('data', this.#onData);
    this.hooks.onClientError(err, this.socket);
  }

  readonly #onEnd = (): void => {
    // A head cut short by the client's end is a request llhttp cannot finish: refused as node:http does.
    if (this.#phase === Phase.Head && !this.#headReads.empty) {
      // The stopped parser would not report it: a fresh one parses the head again first (the same
      // bytes completed no head before, so none completes now).
      let result = this.#stopped ? this.#parseAfresh(EMPTY).result : undefined;
      if (!(result instanceof Error)) result = this.#parser.finish();
      if (result instanceof Error) this.#refuse(result as NodeJS.ErrnoException);
    }
  };

  readonly #onDrain = (): void => {
    this.#response?.emit('drain');
  };

  readonly #onError = (): void => {
    // 'close' follows; a reset client is just gone.
  };

  readonly #onClose = (): void => {
    const res = this.#response;
    const body = this.#body;
    this.#phase = Phase.Gone;
    this.#response = undefined;
    this.#body = undefined;
    // A body cut short: its reader sees the request close unfinished (complete stays false).
    if (body !== undefined && this.#bodyLeft > 0) body.destroy();
    this.#bodyLeft = 0;
    this.#held = undefined;
    this.#headReads.clear();
    this.#parser.close();
    this.owner.delete(this);
    res?.aborted();
  };

  readonly #onHeaders = (fields: string[], url: string): void => {
    this.#parts.add(fields);
    this.#urlParts += url;
  };

  readonly #onHeadersComplete: OnHeadersComplete = (major, minor, headers, method, url, _status, _message, upgrade, keepAlive) => {
    this.#headDone = true;
    this.#major = major;
    this.#minor = minor;
    this.#fields = this.#parts.take(headers);
    this.#method = method;
    if (this.#urlParts.length > 0) {
      this.#url = this.#urlParts + (url ?? '');
      this.#urlParts = '';
    } else {
      this.#url = url ?? '';
    }
    this.#upgrade = upgrade;
    this.#keepAlive = keepAlive;
    return STOP_AFTER_HEAD;
  };
}

/** What node:http's clientError gets for a head (or body) that took too long: answered 408. */
function requestTimeout(): NodeJS.ErrnoException {
  return Object.assign(new Error('request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' });
}

/**
 * A listener's raw connections: the sweep that enforces head and keep-alive timeouts (node:http's
 * connectionsCheckingInterval does the same for its own), and the graceful stop's "close the idle
 * ones" and "close them all".
 */
export class RawHttp1Connections {
  readonly #open = new Set<RawHttp1Connection>();
  #sweep: NodeJS.Timeout | undefined;

  constructor(
    readonly hooks: RawHttp1Hooks,
    public limits: RawHttp1Limits,
    readonly checkEveryMs: number,
  ) {}

  /** Serves a newly accepted connection. */
  accept(socket: Socket): void {
    this.#open.add(new RawHttp1Connection(socket, this.limits, this.hooks, this));
    this.#sweep ??= setInterval(this.#check, this.checkEveryMs).unref();
  }

  delete(connection: RawHttp1Connection): void {
    this.#open.delete(connection);
    if (this.#open.size === 0 && this.#sweep !== undefined) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }

  get size(): number {
    return this.#open.size;
  }

  closeIdle(): void {
    for (const connection of this.#open) if (connection.idle) connection.destroy();
  }

  closeAll(): void {
    for (const connection of this.#open) connection.destroy();
  }

  readonly #check = (): void => {
    const now = performance.now();
    for (const connection of this.#open) connection.check(now);
  };
}
