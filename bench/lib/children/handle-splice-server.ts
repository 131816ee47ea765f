/**
 * Child process: the lowest floor Node offers a proxy (issue 21). The same TCP relay as
 * tcp-splice-server.ts, but on libuv's TCP handles directly (the `tcp_wrap`/`stream_wrap`
 * bindings net.Socket is built on), with no net.Socket, no stream and no event emitter: a read
 * lands in the handle's own buffer and is written to the peer handle from there. Reading stops
 * while a write waits for the kernel (the buffer is still in use), which is also the
 * backpressure. What one keep-alive request costs through it is what V8 and libuv cost for two
 * reads and two writes. Bench only: these bindings are Node's internals.
 * Self-contained (plain JavaScript at run time).
 */
import type { StreamWrapBinding, TcpHandle, TcpWrapBinding } from './libuv-tcp.js';

interface Handle extends TcpHandle<Handle> {
  peer: Handle | undefined;
  buffer: Buffer;
  closed: boolean;
}
interface WriteReq {
  handle: Handle;
  oncomplete: (status: number) => void;
  async: boolean;
  source: Handle;
}
/** Deprecated but still offered for these two bindings; not in @types/node. */
const binding = (process as unknown as { binding(name: string): unknown }).binding.bind(process);
const { TCP, TCPConnectWrap, constants } = binding('tcp_wrap') as TcpWrapBinding<Handle>;
const { WriteWrap, streamBaseState, kReadBytesOrError, kLastWriteWasAsync } = binding('stream_wrap') as StreamWrapBinding<WriteReq>;

const config = JSON.parse(process.env.BENCH_CHILD_CONFIG ?? '{}') as { backends: number[] };
let next = 0;

function close(handle: Handle): void {
  if (handle.closed) return;
  handle.closed = true;
  handle.close();
  if (handle.peer) close(handle.peer);
}

function onWriteComplete(this: WriteReq, status: number): void {
  if (status < 0) return close(this.handle);
  if (!this.source.closed) this.source.readStart();
}

function onRead(this: Handle): void {
  const nread = streamBaseState[kReadBytesOrError]!;
  if (nread === 0) return;
  const peer = this.peer;
  if (nread < 0 || peer === undefined || peer.closed) return close(this);
  const req = new WriteWrap();
  req.handle = peer;
  req.source = this;
  req.oncomplete = onWriteComplete;
  req.async = false;
  const error = peer.writeBuffer(req, this.buffer.subarray(0, nread));
  if (error !== 0) return close(this);
  // The kernel took only part: the rest is written from this handle's buffer, so stop reading into it.
  if (streamBaseState[kLastWriteWasAsync] !== 0) this.readStop();
}

function prepare(handle: Handle, peer: Handle): void {
  handle.peer = peer;
  handle.closed = false;
  handle.buffer = Buffer.allocUnsafe(64 * 1024);
  handle.useUserBuffer(handle.buffer);
  handle.onread = onRead;
  handle.setNoDelay(true);
}

const server = new TCP(constants.SERVER);
server.onconnection = (status, client) => {
  if (status !== 0 || client === undefined) return;
  const upstream = new TCP(constants.SOCKET);
  prepare(client, upstream);
  prepare(upstream, client);
  const port = config.backends[next]!;
  next = (next + 1) % config.backends.length;
  const connecting = new TCPConnectWrap();
  connecting.oncomplete = (connectStatus) => {
    if (connectStatus !== 0) return close(client);
    upstream.readStart();
    client.readStart();
  };
  if (upstream.connect(connecting, '127.0.0.1', port) !== 0) close(client);
};
if (server.bind('127.0.0.1', 0) !== 0 || server.listen(1024) !== 0) throw new Error('handle-splice: cannot listen');
const address: { port?: number } = {};
server.getsockname(address);
process.stdout.write(`${JSON.stringify({ ready: true, port: address.port })}\n`);
process.on('SIGTERM', () => process.exit(0));
