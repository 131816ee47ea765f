/**
 * Child process: a second HTTP/1.1 prototype (issue 21), built the way "Below the prototype" in
 * the README proposes, to measure that design before anyone builds it for real. The I/O runs on
 * libuv's TCP handles (as handle-splice-server.ts), with no net.Socket, stream or emitter. Heads
 * are parsed by llhttp (undici's WebAssembly build), whose callbacks record only where each
 * field lies. The upstream request head and the client response head are spliced from the
 * received bytes: each kept field line is copied whole, and hop-by-hop fields are dropped.
 * X-Forwarded-For/-Proto, Via and X-Request-Id are appended. A whole answer (head and body) leaves
 * in one write.
 *
 * Its scope is the bench's traffic: keep-alive requests with no body or a Content-Length one, and
 * Content-Length or bodiless answers. It answers 502 to an upstream failure, and it closes the
 * connection on anything else (chunked bodies, pipelining, heads over 64 KiB, parse errors).
 * Round-robin over the backends, keep-alive upstream connections. Bench only: these bindings are
 * Node's internals. Self-contained (plain JavaScript at run time).
 */
import { createRequire } from 'node:module';
import type { StreamWrapBinding, TcpHandle, TcpWrapBinding } from './libuv-tcp.js';

const require = createRequire(import.meta.url);
const binding = (process as unknown as { binding(name: string): unknown }).binding.bind(process);

interface Handle extends TcpHandle<Handle> {
  side: Side;
}
interface WriteReq {
  handle: Handle;
  oncomplete: (status: number) => void;
  source: Side | undefined;
  buffer: Buffer | null;
}
const { TCP, TCPConnectWrap, constants } = binding('tcp_wrap') as TcpWrapBinding<Handle>;
const { WriteWrap, streamBaseState, kReadBytesOrError, kLastWriteWasAsync } = binding('stream_wrap') as StreamWrapBinding<WriteReq>;

interface LlhttpExports {
  memory: { buffer: ArrayBuffer };
  malloc(size: number): number;
  llhttp_alloc(type: number): number;
  llhttp_execute(parser: number, data: number, length: number): number;
  llhttp_get_method(parser: number): number;
}
const { Instance, Module } = (globalThis as unknown as {
  WebAssembly: { Module: new (bytes: Buffer) => object; Instance: new (module: object, imports: object) => { exports: unknown } };
}).WebAssembly;
const METHOD_NAMES: string[] = [];
for (const [name, index] of Object.entries(require('undici/lib/llhttp/constants.js').METHODS as Record<string, number>)) METHOD_NAMES[index] = name;

const config = JSON.parse(process.env.BENCH_CHILD_CONFIG ?? '{}') as { backends: number[] };
const REGION = 64 * 1024;
const REQUEST_ID_FIELD = Buffer.from('x-request-id: ');
const BAD_GATEWAY = Buffer.from('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
/** Dropped from both heads (lower case), by length: hop-by-hop fields and the ones this proxy sets. */
const DROPPED_BY_LENGTH: Buffer[][] = [];
for (const name of ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'x-forwarded-for', 'x-forwarded-proto', 'x-request-id', 'via']) {
  (DROPPED_BY_LENGTH[name.length] ??= []).push(Buffer.from(name));
}
const ID_PREFIX = `${process.pid.toString(36)}-`;
let requestCounter = 0;
const STATUS_LINES: string[] = [];
for (let status = 100; status < 600; status++) STATUS_LINES[status] = `HTTP/1.1 ${status} `;

let memory = new Uint8Array(0);
/** The side whose parser is running: llhttp's callbacks report to it. */
let current: Side | undefined;

/** One connection's end: its handle, its llhttp parser, the region of wasm memory its reads are parsed in. */
class Side {
  /** Field spans of the head being parsed, [nameAt, nameLength, valueAt, valueLength, …], absolute in wasm memory. */
  readonly spans = new Int32Array(512);
  count = 0;
  urlAt = 0;
  urlLength = 0;
  statusAt = 0;
  statusLength = 0;
  /** Unconsumed bytes kept in the region (a head that is not complete yet). */
  held = 0;
  headDone = false;
  /** The outgoing message being assembled, and how much of it is filled. */
  out = Buffer.allocUnsafe(REGION);
  filled = 0;
  peer: Side | undefined;
  upstream: Upstream | undefined;
  requestId = '';
  /** The fields this proxy appends to a request, up to the request id's value (client sides: made once per connection). */
  forwarded = REQUEST_ID_FIELD;
  closed = false;
  readonly parser: number;
  readonly region: number;
  readonly readBuffer = Buffer.allocUnsafe(REGION);

  constructor(
    readonly handle: Handle,
    readonly isClient: boolean,
  ) {
    this.parser = llhttp.llhttp_alloc(isClient ? 1 : 2);
    this.region = llhttp.malloc(REGION);
    // malloc may have grown wasm memory, which detaches the old view (offsets stay valid).
    if (memory.buffer !== llhttp.memory.buffer) memory = new Uint8Array(llhttp.memory.buffer);
// Exports held as plain functions: a load from the exports object each call is a slow IC.
const execute = llhttp.llhttp_execute;
const getMethod = llhttp.llhttp_get_method;
    handle.side = this;
    handle.useUserBuffer(this.readBuffer);
    handle.onread = onRead;
    handle.setNoDelay(true);
  }

  span(at: number, length: number, field: boolean): void {
    const spans = this.spans;
    // A field split across reads arrives in two calls; the held region keeps the halves adjacent.
    if (this.count > 0 && (this.count & 2) === (field ? 2 : 0) && spans[this.count - 2]! + spans[this.count - 1]! === at) {
      spans[this.count - 1]! += length;
      return;
    }
    if (this.count === spans.length) return;
    spans[this.count++] = at;
    spans[this.count++] = length;
  }

  append(bytes: Uint8Array): void {
    if (this.filled + bytes.length > this.out.length) this.flush();
    if (bytes.length > this.out.length) this.out = Buffer.allocUnsafe(bytes.length);
    this.out.set(bytes, this.filled);
    this.filled += bytes.length;
  }

  appendCrlf(): void {
    const out = this.out;
    out[this.filled++] = 13;
    out[this.filled++] = 10;
  }

  /** Bytes [at, end) of wasm memory; short runs (field lines) byte by byte: no view made per line. */
  copyFrom(at: number, end: number): void {
    const length = end - at;
    if (length > 64) return this.append(memory.subarray(at, end));
    if (this.filled + length > this.out.length) this.flush();
    const out = this.out;
    const mem = memory;
    let filled = this.filled;
    for (let i = at; i < end; i++) out[filled++] = mem[i]!;
    this.filled = filled;
  }

  /**
   * Copies the kept field lines, consecutive ones as one run of the received bytes (their line
   * ends included), then `extra` and `id` end the head.
   */
  appendFields(extra: Buffer, id: string): void {
    const spans = this.spans;
    const mem = memory;
    let runStart = -1;
    let lastEnd = 0;
    for (let i = 0; i + 3 < this.count; i += 4) {
      const nameAt = spans[i]!;
      if (isDropped(mem, nameAt, spans[i + 1]!)) {
        if (runStart >= 0) this.append(mem.subarray(runStart, nameAt));
        runStart = -1;
        continue;
      }
      if (runStart < 0) runStart = nameAt;
      lastEnd = spans[i + 2]! + spans[i + 3]!;
    }
    if (runStart >= 0) {
      this.append(mem.subarray(runStart, lastEnd));
      this.appendCrlf();
    }
    this.append(extra);
    this.filled += this.out.write(id, this.filled, 'latin1');
    this.appendCrlf();
    this.appendCrlf();
  }

  appendText(text: string): void {
    if (this.filled + text.length > this.out.length) this.flush();
    this.filled += this.out.write(text, this.filled, 'latin1');
  }

  /** Writes what is assembled to `target`'s handle; reading on this side waits while the kernel is behind. */
  flushTo(target: Side): void {
    if (this.filled === 0 || target.closed) return;
    const data = this.out.subarray(0, this.filled);
    const req = new WriteWrap();
    req.handle = target.handle;
    req.oncomplete = onWriteComplete;
    req.source = this;
    req.buffer = null;
    const error = target.handle.writeBuffer(req, data);
    this.filled = 0;
    if (error !== 0) return close(target);
    if (streamBaseState[kLastWriteWasAsync] !== 0) {
      // libuv writes from this buffer until it completes: the next message gets a new one, and the reader waits.
      req.buffer = this.out;
      this.out = Buffer.allocUnsafe(REGION);
      req.source?.handle.readStop();
    }
  }

  flush(): void {
    if (!this.isClient) {
      if (this.peer !== undefined) this.flushTo(this.peer);
      return;
    }
    // Until the upstream connection is up, the request waits here; its connect callback flushes it.
    const upstream = this.upstream;
    if (upstream !== undefined && upstream.connected) this.flushTo(upstream.side);
  }
}

function isDropped(mem: Uint8Array, at: number, length: number): boolean {
  const candidates = DROPPED_BY_LENGTH[length];
  if (candidates === undefined) return false;
  outer: for (let c = 0; c < candidates.length; c++) {
    const name = candidates[c]!;
    for (let i = 0; i < length; i++) if ((mem[at + i]! | 0x20) !== name[i]) continue outer;
    return true;
  }
  return false;
}

function onWriteComplete(this: WriteReq, status: number): void {
  this.buffer = null;
  if (status < 0) return close(this.handle.side);
  const source = this.source;
  if (source !== undefined && !source.closed) source.handle.readStart();
}

/** A kept-alive upstream connection; `side.peer` is the client it is serving. */
class Upstream {
  connected = false;
  constructor(
    readonly side: Side,
    readonly pool: Upstream[],
  ) {}
}
const pools: Upstream[][] = config.backends.map(() => []);
let next = 0;

function acquire(): Upstream {
  const index = next;
  next = (next + 1) % pools.length;
  const pool = pools[index]!;
  const idle = pool.pop();
  if (idle !== undefined && !idle.side.closed) return idle;
  const handle = new TCP(constants.SOCKET);
  const upstream = new Upstream(new Side(handle, false), pool);
  upstream.side.upstream = upstream;
  const connecting = new TCPConnectWrap();
  connecting.oncomplete = (status) => {
    if (status !== 0) return failUpstream(upstream.side);
    upstream.connected = true;
    handle.readStart();
    const served = upstream.side.peer;
    if (served !== undefined) served.flush();
  };
  if (handle.connect(connecting, '127.0.0.1', config.backends[index]!) !== 0) failUpstream(upstream.side);
  return upstream;
}

/** An upstream connection failed: the client it serves gets a 502 and is closed. */
function failUpstream(side: Side): void {
  const client = side.peer;
  closeHandle(side);
  if (client === undefined || client.closed) return;
  client.filled = 0;
  client.append(BAD_GATEWAY);
  client.flushTo(client);
  close(client);
}

function close(side: Side): void {
  if (side.closed) return;
  if (!side.isClient) return failUpstream(side);
  closeHandle(side);
  // The upstream connection was mid-exchange for this client: it cannot be reused.
  if (side.upstream !== undefined) closeHandle(side.upstream.side);
}

function closeHandle(side: Side): void {
  if (side.closed) return;
  side.closed = true;
  side.handle.close();
}

function onRead(this: Handle): void {
  const nread = streamBaseState[kReadBytesOrError]!;
  if (nread === 0) return;
  const side = this.side;
  if (nread < 0) return side.isClient ? close(side) : failUpstream(side);
  if (side.held + nread > REGION) return close(side);
  // (wasm memory grows only in malloc, after which Side's constructor renews the view)
  const at = side.region + side.held;
  memory.set(side.readBuffer.subarray(0, nread), at);
  side.held += nread;
  current = side;
  const error = execute(side.parser, at, nread);
  current = undefined;
  if (error !== 0) return close(side);
  // Once the head is out, the region's bytes are spent (bodies were copied out as they came).
  if (side.headDone) side.held = 0;
  if (side.filled > 0) side.flush();
}

/** The client's request head: the upstream head is spliced into the client side's out buffer. */
function requestHead(side: Side): number {
  const upstream = acquire();
  side.upstream = upstream;
  upstream.side.peer = side;
  side.requestId = ID_PREFIX + (++requestCounter).toString(36);
  side.appendText(METHOD_NAMES[getMethod(side.parser)]!);
  side.appendText(' ');
  side.copyFrom(side.urlAt, side.urlAt + side.urlLength);
  side.appendText(' HTTP/1.1\r\n');
  side.appendFields(side.forwarded, side.requestId);
  return 0;
}

/** The upstream's response head: the client head is spliced into the upstream side's out buffer. */
function responseHead(side: Side, status: number): number {
  const client = side.peer!;
  side.appendText(STATUS_LINES[status] ?? `HTTP/1.1 ${status} `);
  side.copyFrom(side.statusAt, side.statusAt + side.statusLength);
  side.appendCrlf();
  side.appendFields(REQUEST_ID_FIELD, client.requestId);
  return 0;
}

const instance = new Instance(new Module(require('undici/lib/llhttp/llhttp_simd-wasm.js') as Buffer), {
  env: {
    wasm_on_message_begin: () => {
      const side = current!;
      side.count = 0;
      side.headDone = false;
      return 0;
    },
    wasm_on_url: (_p: number, at: number, length: number) => {
      const side = current!;
      side.urlLength = side.urlLength > 0 && side.urlAt + side.urlLength === at ? side.urlLength + length : length;
      if (side.urlLength === length) side.urlAt = at;
      return 0;
    },
    wasm_on_status: (_p: number, at: number, length: number) => {
      current!.statusAt = at;
      current!.statusLength = length;
      return 0;
    },
    wasm_on_header_field: (_p: number, at: number, length: number) => {
      current!.span(at, length, true);
      return 0;
    },
    wasm_on_header_value: (_p: number, at: number, length: number) => {
      current!.span(at, length, false);
      return 0;
    },
    wasm_on_headers_complete: (_p: number, status: number) => {
      const side = current!;
      side.headDone = true;
      const result = side.isClient ? requestHead(side) : responseHead(side, status);
      side.urlLength = 0;
      return result;
    },
    wasm_on_body: (_p: number, at: number, length: number) => {
      current!.copyFrom(at, at + length);
      return 0;
    },
    wasm_on_message_complete: () => {
      const side = current!;
      if (!side.isClient) {
        // The answer is whole: it leaves in one write, and the upstream connection is free again.
        const client = side.peer!;
        side.flushTo(client);
        side.peer = undefined;
        client.upstream = undefined;
        const upstream = side.upstream!;
        upstream.pool.push(upstream);
      }
      return 0;
    },
  },
});
const llhttp = instance.exports as unknown as LlhttpExports;
memory = new Uint8Array(llhttp.memory.buffer);
// Exports held as plain functions: a load from the exports object each call is a slow IC.
const execute = llhttp.llhttp_execute;
const getMethod = llhttp.llhttp_get_method;

const server = new TCP(constants.SERVER);
server.onconnection = (status, client) => {
  if (status !== 0 || client === undefined) return;
  const side = new Side(client, true);
  const peer: { address?: string } = {};
  client.getpeername(peer);
  side.forwarded = Buffer.from(`x-forwarded-for: ${peer.address ?? 'unknown'}\r\nx-forwarded-proto: http\r\nvia: 1.1 wasm-proto\r\nx-request-id: `, 'latin1');
  client.readStart();
};
if (server.bind('127.0.0.1', 0) !== 0 || server.listen(1024) !== 0) throw new Error('wasm-proto: cannot listen');
const address: { port?: number } = {};
server.getsockname(address);
process.stdout.write(`${JSON.stringify({ ready: true, port: address.port })}\n`);
process.on('SIGTERM', () => process.exit(0));
