/**
 * Socket writes that skip the socket's Writable. `socket.write` runs Writable's bookkeeping for
 * every chunk (state and length updates, an after-write tick, the callback batch): ~550
 * instructions a write measured, two writes a proxied request. When nothing waits in the
 * Writable (no queued or in-flight chunk, not corked, not connecting, not ending), its queue has
 * nothing to order against, so the bytes go to the socket's libuv handle the way net's own
 * `_writeGeneric` hands them over: the kernel takes them now (almost always), or libuv keeps them
 * queued ahead of any later write, and a later `socket.end()` shuts the socket down only after
 * them (libuv's shutdown waits for queued writes). The handle counts the bytes, so
 * `socket.bytesWritten` still includes them.
 *
 * The completion contract is socket.write's: `flushed` runs once the kernel has every byte (never
 * before writeDirect returns: a microtask at the earliest, see FLUSHED_NOW), or with the error; a write error also destroys the socket, as
 * Writable does. (Unlike node:net, a write cancelled by the socket's destruction reports an
 * error, not success.) Node's `stream_wrap` binding (its write request class and the state the write
 * methods report through) is reached by `process.binding`; where this Node does not offer it,
 * under --pending-deprecation, and for TLS sockets, every write goes through `socket.write`.
 */
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';

export type Flushed = (err?: Error | null) => void;

interface StreamHandle {
  writeLatin1String(req: WriteRequest, data: string): number;
  writeBuffer(req: WriteRequest, data: Buffer): number;
}

/** Node's WriteWrap: `handle` and `oncomplete` are read by Node's C++; the rest is ours. */
interface WriteRequest {
  handle: StreamHandle;
  oncomplete: (this: WriteRequest, status: number) => void;
  socket: Socket;
  flushed: Flushed | undefined;
  /** A Buffer libuv still writes from. */
  buffer: Buffer | null;
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteRequest;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
}

/** Node prints DEP0111 for process.binding only under --pending-deprecation: whoever asked for that gets the plain path, not a warning. */
function pendingDeprecation(): boolean {
  if (process.env.NODE_PENDING_DEPRECATION === '1') return true;
  return [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((flag) => flag === '--pending-deprecation');
}

function loadStreamWrap(): StreamWrapBinding | undefined {
  if (pendingDeprecation()) return undefined;
  try {
    const binding = (process as unknown as { binding(name: string): Partial<StreamWrapBinding> }).binding('stream_wrap');
    const { WriteWrap, streamBaseState, kLastWriteWasAsync } = binding;
    if (typeof WriteWrap !== 'function' || !(streamBaseState instanceof Int32Array) || typeof kLastWriteWasAsync !== 'number') return undefined;
    return { WriteWrap, streamBaseState, kLastWriteWasAsync };
  } catch {
    return undefined;
  }
}

const STREAM_WRAP = loadStreamWrap();
/**
 * A write the kernel took at once reports through a reaction to this settled promise (with
 * null): a microtask, run in V8's checkpoint as the callback that wrote unwinds. process.nextTick
 * would make Node enter its tick queue's JavaScript after the read callback: ~2 k instructions a
 * proxied request more (measured: 0.972 of the instructions). A throw there surfaces as an
 * unhandled rejection, which Node raises as the uncaught exception a throwing tick would be.
 */
const FLUSHED_NOW = Promise.resolve(null);

interface NetInternals {
  _handle: Partial<StreamHandle> | null;
  encrypted?: boolean;
  /** net.Socket's idle-timer refresh, which its own writes call. */
  _unrefTimer?: () => void;
}

/** The handle to write to, or undefined when this write must go through the Writable. */
function directHandle(socket: Socket): StreamHandle | undefined {
  if (STREAM_WRAP === undefined || socket.connecting || socket.destroyed || socket.writableEnded) return undefined;
  if (socket.writableLength !== 0 || socket.writableCorked !== 0) return undefined;
  const internals = socket as unknown as NetInternals;
  const handle = internals._handle;
  if (handle == null || internals.encrypted === true || typeof handle.writeLatin1String !== 'function') return undefined;
  return handle as StreamHandle;
}

function writeError(status: number): NodeJS.ErrnoException {
  let code: string;
  try {
    code = getSystemErrorName(status);
  } catch {
    code = 'UNKNOWN';
  }
  const error: NodeJS.ErrnoException = new Error(`write ${code}`);
  error.errno = status;
  error.code = code;
  error.syscall = 'write';
  return error;
}

/** libuv finished a write the kernel did not take at once. */
function onWriteComplete(this: WriteRequest, status: number): void {
  const { socket, flushed } = this;
  this.buffer = null;
  if (status < 0) {
    // Also when the socket was destroyed meanwhile (the write was cancelled): those bytes never left.
    const error = writeError(status);
    flushed?.(error);
    if (!socket.destroyed) socket.destroy(error);
    return;
  }
  flushed?.(null);
}

/**
 * Writes `data` (a latin1 string or bytes) to `socket` as `socket.write(data, flushed)` would,
 * without the Writable when nothing is queued in it.
 */
export function writeDirect(socket: Socket, data: string | Buffer, flushed?: Flushed): void {
  const handle = directHandle(socket);
  if (handle !== undefined) {
    const state = STREAM_WRAP!;
    const req = new state.WriteWrap();
    req.handle = handle;
    req.oncomplete = onWriteComplete;
    req.socket = socket;
    req.flushed = flushed;
    req.buffer = null;
    (socket as unknown as NetInternals)._unrefTimer?.();
    const status = typeof data === 'string' ? handle.writeLatin1String(req, data) : handle.writeBuffer(req, data);
    if (status === 0) {
      if (state.streamBaseState[state.kLastWriteWasAsync] !== 0) {
        // libuv writes from a Buffer's memory until it completes (a string it has copied).
        if (typeof data !== 'string') req.buffer = data;
      } else if (flushed !== undefined) {
        FLUSHED_NOW.then(flushed);
      }
      return;
    }
    // Refused before a byte left (a failed first write sends nothing): the Writable
    // meets the same error and reports it its own way.
  }
  if (typeof data === 'string') socket.write(data, 'latin1', flushed);
  else socket.write(data, flushed);
}
