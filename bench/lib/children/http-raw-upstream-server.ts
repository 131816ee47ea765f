/**
 * Child process: a bare proxy with node:http on the client side and the raw prototype's upstream
 * side (keep-alive `net` sockets, answers framed by Node's llhttp binding, the head forwarded as
 * llhttp's raw field list). Against `raw-proto` (raw on both sides) it measures what node:http's
 * server costs per request; against Waypost's raw engine (node:http client side too) what
 * Waypost's own features cost. Issue 21: measure the layer before blaming it.
 *
 * Same edits as the prototype: hop-by-hop fields dropped, X-Forwarded-For/-Proto, X-Request-Id,
 * Via; round-robin over the backends; 502 when an upstream fails before its head. Bodies pass as
 * Buffers with backpressure. Self-contained (plain JavaScript at run time): no relative imports.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import net, { type AddressInfo, type Socket } from 'node:net';

const require = createRequire(import.meta.url);
interface Parser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  close(): void;
  [key: number]: unknown;
}
const { HTTPParser } = require('_http_common') as {
  HTTPParser: { new (): Parser; RESPONSE: number; kOnHeadersComplete: number; kOnBody: number; kOnMessageComplete: number };
};

const config = JSON.parse(process.env.BENCH_CHILD_CONFIG ?? '{}') as { backends: number[] };
const PROXY_ID = 'http-raw-upstream';
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'x-forwarded-for', 'x-forwarded-proto', 'x-request-id']);
const CRLF = '\r\n';

let requestCounter = 0;
const idPrefix = `${process.pid.toString(36)}-`;

class Upstream {
  readonly idle: UpstreamConnection[] = [];
  constructor(readonly port: number) {}

  acquire(): UpstreamConnection {
    return this.idle.pop() ?? new UpstreamConnection(this);
  }
}

/** One keep-alive socket to a backend; serves one client response at a time. */
class UpstreamConnection {
  readonly socket: Socket;
  readonly parser: Parser;
  res: http.ServerResponse | undefined;
  requestId = '';
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
      const res = this.res;
      this.res = undefined;
      if (res === undefined) return;
      if (res.headersSent) res.destroy();
      else res.writeHead(502, { 'content-length': '0' }).end();
    });
  }

  send(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.res = res;
    this.requestId = `${idPrefix}${++requestCounter}`;
    const raw = req.rawHeaders;
    let head = `${req.method} ${req.url} HTTP/1.1${CRLF}`;
    let forwardedFor: string | undefined;
    let chunked = false;
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
    const peer = req.socket.remoteAddress ?? '';
    head += `x-forwarded-for: ${forwardedFor === undefined ? peer : `${forwardedFor}, ${peer}`}${CRLF}`;
    head += `x-forwarded-proto: http${CRLF}x-request-id: ${this.requestId}${CRLF}via: ${req.httpVersion} ${PROXY_ID}${CRLF}${CRLF}`;
    this.socket.cork();
    this.socket.write(head, 'latin1');
    if (req.complete && req.readableLength === 0) {
      req.resume();
      this.socket.uncork();
      return;
    }
    this.socket.uncork();
    req.on('data', (chunk: Buffer) => {
      const framed = chunked ? [`${chunk.length.toString(16)}${CRLF}`, chunk, CRLF] : [chunk];
      let ok = true;
      for (const part of framed) ok = this.socket.write(part);
      if (!ok) {
        req.pause();
        this.socket.once('drain', () => req.resume());
      }
    });
    if (chunked) req.on('end', () => this.socket.write(`0${CRLF}${CRLF}`));
  }

  readonly #onHead = (_major: number, _minor: number, raw: string[], _method: number, _url: string, status: number): number => {
    const res = this.res!;
    // Same edits as the prototype, onto a raw field list node:http writes as it is.
    const fields: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const lower = name.length <= 17 ? name.toLowerCase() : name;
      if (HOP_BY_HOP.has(lower)) continue;
      fields.push(name, raw[i + 1]!);
    }
    fields.push('via', `1.1 ${PROXY_ID}`, 'x-request-id', this.requestId);
    res.cork();
    process.nextTick(uncork, res);
    res.writeHead(status, fields);
    return 0;
  };

  readonly #onBody = (chunk: Buffer): void => {
    if (!this.res!.write(chunk)) {
      this.socket.pause();
      this.res!.once('drain', () => this.socket.resume());
    }
  };

  readonly #onComplete = (): void => {
    const res = this.res!;
    this.res = undefined;
    // Paused by a full client response whose 'drain' never comes once it ends: read again before parking.
    if (this.socket.isPaused()) this.socket.resume();
    if (!this.dead) this.upstream.idle.push(this);
    res.end();
  };
}

function uncork(res: http.ServerResponse): void {
  res.uncork();
}

const upstreams = config.backends.map((port) => new Upstream(port));
let next = 0;

const server = http.createServer({ keepAliveTimeout: 120_000 }, (req, res) => {
  const upstream = upstreams[next]!.acquire();
  next = (next + 1) % upstreams.length;
  res.on('close', () => {
    if (upstream.res === res) upstream.socket.destroy();
  });
  upstream.send(req, res);
});
server.listen({ port: 0, host: '127.0.0.1', backlog: 1024 }, () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
