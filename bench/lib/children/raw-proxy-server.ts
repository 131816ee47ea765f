/**
 * Child process: the measured prototype below node:http (issue 21). A bare HTTP/1.1 reverse
 * proxy on raw `net` sockets, parsed with Node's own llhttp binding (`_http_common`'s
 * HTTPParser: no hand-written parser), with keep-alive upstream sockets per backend.
 *
 * Per request it builds no IncomingMessage, ServerResponse or header map: the request and
 * response heads are rewritten from llhttp's raw [name, value, …] list with only the edits a
 * proxy must make (hop-by-hop fields dropped, X-Forwarded-For/-Proto, X-Request-Id, Via), and
 * bodies move as the Buffers llhttp hands out, with backpressure both ways (a full socket
 * pauses the other side). Bodies keep their framing: content-length passes through,
 * chunked bodies are re-chunked. Pipelined requests are answered in order.
 *
 * Round-robin over the backends; an upstream failure before the response head is a 502.
 * Self-contained (plain JavaScript at run time): no relative imports.
 */
import { createRequire } from 'node:module';
import net, { type AddressInfo, type Socket } from 'node:net';

const require = createRequire(import.meta.url);
interface Parser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  finish(): number | Error | undefined;
  close(): void;
  [key: number]: unknown;
}
const { HTTPParser, methods } = require('_http_common') as {
  HTTPParser: { new (): Parser; REQUEST: number; RESPONSE: number; kOnHeadersComplete: number; kOnBody: number; kOnMessageComplete: number };
  methods: string[];
};

const config = JSON.parse(process.env.BENCH_CHILD_CONFIG ?? '{}') as { backends: number[] };
const PROXY_ID = 'raw-proto';
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'x-forwarded-for', 'x-forwarded-proto', 'x-request-id']);
const CRLF = '\r\n';
const LAST_CHUNK = Buffer.from('0\r\n\r\n');
const BAD_GATEWAY = Buffer.from('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');

let requestCounter = 0;
const idPrefix = `${process.pid.toString(36)}-`;

/** One parsed client request waiting for, or being served by, an upstream. */
interface Pending {
  id: string;
  head: string;
  chunked: boolean;
  /** Body chunks that arrived before an upstream socket was assigned. */
  early: Buffer[];
  complete: boolean;
  keepAlive: boolean;
}

class Upstream {
  readonly idle: UpstreamConnection[] = [];
  constructor(readonly port: number) {}

  acquire(): UpstreamConnection {
    return this.idle.pop() ?? new UpstreamConnection(this);
  }
}

/** One keep-alive socket to a backend with its response parser. */
class UpstreamConnection {
  readonly socket: Socket;
  readonly parser: Parser;
  client: ClientConnection | undefined;
  #responseChunked = false;
  #gotHead = false;
  dead = false;

  constructor(readonly upstream: Upstream) {
    this.socket = net.connect({ port: upstream.port, host: '127.0.0.1', noDelay: true });
    this.parser = new HTTPParser();
    this.parser.initialize(HTTPParser.RESPONSE, {}, 65536, 0);
    this.parser[HTTPParser.kOnHeadersComplete] = this.#onHead;
    this.parser[HTTPParser.kOnBody] = this.#onBody;
    this.parser[HTTPParser.kOnMessageComplete] = this.#onComplete;
    this.socket.on('data', (data: Buffer) => {
      const result = this.parser.execute(data);
      if (result instanceof Error) this.socket.destroy();
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.dead = true;
      const idle = this.upstream.idle.indexOf(this);
      if (idle !== -1) this.upstream.idle.splice(idle, 1);
      if (this.client !== undefined) this.client.upstreamFailed(this.#gotHead);
    });
    this.socket.on('drain', () => this.client?.socket.resume());
  }

  readonly #onHead = (_major: number, _minor: number, raw: string[], _method: number, _url: string, status: number, message: string): number => {
    this.#gotHead = true;
    let head = `HTTP/1.1 ${status} ${message}${CRLF}`;
    let chunked = false;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const lower = name.length <= 17 ? name.toLowerCase() : name;
      if (HOP_BY_HOP.has(lower)) {
        if (lower === 'transfer-encoding') chunked = true;
        continue;
      }
      head += `${name}: ${raw[i + 1]}${CRLF}`;
    }
    if (chunked) head += `transfer-encoding: chunked${CRLF}`;
    this.#responseChunked = chunked;
    head += `via: 1.1 ${PROXY_ID}${CRLF}x-request-id: ${this.client!.requestId}${CRLF}${CRLF}`;
    writeCorked(this.client!.socket, head);
    return 0;
  };

  readonly #onBody = (chunk: Buffer): void => {
    const client = this.client!.socket;
    let ok: boolean;
    if (this.#responseChunked) {
      client.write(`${chunk.length.toString(16)}${CRLF}`, 'latin1');
      client.write(chunk);
      ok = client.write(CRLF, 'latin1');
    } else {
      ok = client.write(chunk);
    }
    if (!ok) {
      this.socket.pause();
      client.once('drain', () => this.socket.resume());
    }
  };

  readonly #onComplete = (): void => {
    if (this.#responseChunked) this.client!.socket.write(LAST_CHUNK);
    const client = this.client!;
    this.client = undefined;
    this.#gotHead = false;
    if (!this.dead) this.upstream.idle.push(this);
    client.responseDone();
  };
}

const upstreams = config.backends.map((port) => new Upstream(port));
let next = 0;

/** One client connection: a request parser and the queue of its (pipelined) requests. */
class ClientConnection {
  readonly parser: Parser = new HTTPParser();
  readonly queue: Pending[] = [];
  /** The upstream serving the queue's first request. */
  upstream: UpstreamConnection | undefined;
  requestId = '';
  #parsing: Pending | undefined;
  #peer: string;

  constructor(readonly socket: Socket) {
    this.#peer = socket.remoteAddress ?? '';
    socket.setNoDelay(true);
    this.parser.initialize(HTTPParser.REQUEST, {}, 32768, 0);
    this.parser[HTTPParser.kOnHeadersComplete] = this.#onHead;
    this.parser[HTTPParser.kOnBody] = this.#onBody;
    this.parser[HTTPParser.kOnMessageComplete] = this.#onComplete;
    socket.on('data', (data: Buffer) => {
      const result = this.parser.execute(data);
      if (result instanceof Error) socket.destroy();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.parser.close();
      this.upstream?.socket.destroy();
    });
    socket.on('drain', () => this.upstream?.socket.resume());
  }

  readonly #onHead = (major: number, minor: number, raw: string[], method: number, url: string, _s: number, _m: string, _upgrade: boolean, keepAlive: boolean): number => {
    let head = `${methods[method]} ${url} HTTP/1.1${CRLF}`;
    let chunked = false;
    let forwardedFor: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const lower = name.length <= 17 ? name.toLowerCase() : name;
      if (HOP_BY_HOP.has(lower)) {
        if (lower === 'transfer-encoding') chunked = true;
        else if (lower === 'x-forwarded-for') forwardedFor = raw[i + 1];
        continue;
      }
      head += `${name}: ${raw[i + 1]}${CRLF}`;
    }
    if (chunked) head += `transfer-encoding: chunked${CRLF}`;
    head += `x-forwarded-for: ${forwardedFor === undefined ? this.#peer : `${forwardedFor}, ${this.#peer}`}${CRLF}`;
    const id = `${idPrefix}${++requestCounter}`;
    head += `x-forwarded-proto: http${CRLF}x-request-id: ${id}${CRLF}via: ${major}.${minor} ${PROXY_ID}${CRLF}${CRLF}`;
    const pending: Pending = { id, head, chunked, early: [], complete: false, keepAlive };
    this.#parsing = pending;
    this.queue.push(pending);
    if (this.queue.length === 1) this.#start();
    return 0;
  };

  readonly #onBody = (chunk: Buffer): void => {
    const pending = this.#parsing!;
    const framed = pending.chunked ? [Buffer.from(`${chunk.length.toString(16)}${CRLF}`), chunk, Buffer.from(CRLF)] : [chunk];
    if (pending === this.queue[0] && this.upstream !== undefined) {
      let ok = true;
      for (const part of framed) ok = this.upstream.socket.write(part);
      if (!ok) this.socket.pause();
    } else {
      // A pipelined request's body waits for its turn (copied: the parser's buffer is reused).
      for (const part of framed) pending.early.push(Buffer.from(part));
    }
  };

  readonly #onComplete = (): void => {
    const pending = this.#parsing!;
    pending.complete = true;
    if (pending.chunked) {
      if (pending === this.queue[0] && this.upstream !== undefined) this.upstream.socket.write(LAST_CHUNK);
      else pending.early.push(LAST_CHUNK);
    }
  };

  #start(): void {
    const pending = this.queue[0]!;
    const upstream = upstreams[next]!.acquire();
    next = (next + 1) % upstreams.length;
    this.upstream = upstream;
    upstream.client = this;
    this.requestId = pending.id;
    writeCorked(upstream.socket, pending.head);
    for (const part of pending.early) upstream.socket.write(part);
    pending.early.length = 0;
  }

  /** The upstream finished the response of the queue's first request. */
  responseDone(): void {
    const done = this.queue.shift()!;
    this.upstream = undefined;
    if (!done.keepAlive) {
      this.socket.end();
      return;
    }
    if (this.queue.length > 0) this.#start();
  }

  upstreamFailed(gotHead: boolean): void {
    this.upstream = undefined;
    if (!gotHead) this.socket.write(BAD_GATEWAY);
    this.socket.destroy();
  }
}

const server = net.createServer({ noDelay: true }, (socket) => new ClientConnection(socket));
server.listen({ port: 0, host: '127.0.0.1', backlog: 1024 }, () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));

/**
 * A head is written corked until the end of this tick, so the body parsed from the same packet
 * leaves in the same write syscall (a write per head and per body took ~50 % of the CPU).
 */
function writeCorked(socket: Socket, head: string): void {
  if (socket.writableCorked === 0) {
    socket.cork();
    process.nextTick(uncork, socket);
  }
  socket.write(head, 'latin1');
}

function uncork(socket: Socket): void {
  socket.uncork();
}
