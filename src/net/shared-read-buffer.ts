/**
 * One read buffer for every proxied connection. A socket read normally allocates a fresh
 * 64 KiB backing store, shrinks it to what was read, wraps it in a Buffer, pushes it through
 * the socket's Readable ('data', then a read-more tick): ~5 k instructions a read, two reads a
 * proxied request on each side. net's `onread` option instead reads into a buffer of ours and
 * calls back with the byte count. Every read is parsed before the event loop can read again,
 * so one buffer serves all sockets; whatever must outlive the read (a body chunk passed on,
 * pipelined bytes, a head split across reads) is copied out of it by the reader.
 *
 * Upstream sockets take `onread` at connect (net.connect's option, SHARED_READ_BUFFER). Accepted
 * sockets cannot: net.Server has no such option, so `readIntoSharedBuffer` sets on the accepted
 * socket the same three fields net's constructor sets for `onread` (found by name on a socket made
 * with it: they are net's private symbols) and tells its handle to read into the buffer, exactly
 * what that constructor does. Where this Node has no such fields the socket keeps reading as a stream.
 */
import net, { type Socket } from 'node:net';

export const SHARED_READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

interface OnreadFields {
  readonly buffer: symbol;
  readonly callback: symbol;
  readonly generator: symbol;
}

/** net's private `onread` fields, by their names on a socket made with the option. */
function findOnreadFields(): OnreadFields | undefined {
  const options = { onread: { buffer: Buffer.alloc(1), callback: () => true } } as net.SocketConstructorOpts;
  const probe = new net.Socket(options);
  const byName = new Map(Object.getOwnPropertySymbols(probe).map((symbol) => [symbol.description, symbol]));
  const buffer = byName.get('kBuffer');
  const callback = byName.get('kBufferCb');
  const generator = byName.get('kBufferGen');
  if (buffer === undefined || callback === undefined || generator === undefined) return undefined;
  const fields = probe as unknown as Record<symbol, unknown>;
  if (fields[buffer] === undefined || typeof fields[callback] !== 'function') return undefined;
  return { buffer, callback, generator };
}

const ONREAD = findOnreadFields();

type ReadCallback = (bytes: number, buffer: Buffer) => boolean;
interface UserBufferHandle {
  useUserBuffer(buffer: Buffer): void;
}

/**
 * From now on `socket`'s reads land in SHARED_READ_BUFFER and go to `onRead` (not to 'data';
 * bytes already in its stream buffer still come as 'data'). Plain TCP sockets only: others, and
 * every socket where this Node does not have the fields, are left reading as a stream.
 */
export function readIntoSharedBuffer(socket: Socket, onRead: ReadCallback): void {
  const handle = (socket as unknown as { _handle?: Partial<UserBufferHandle> | null })._handle;
  if (ONREAD === undefined || (socket as { encrypted?: boolean }).encrypted === true || typeof handle?.useUserBuffer !== 'function') return;
  const fields = socket as unknown as Record<symbol, unknown>;
  fields[ONREAD.buffer] = SHARED_READ_BUFFER;
  fields[ONREAD.callback] = onRead;
  fields[ONREAD.generator] = null;
  handle.useUserBuffer(SHARED_READ_BUFFER);
}

/**
 * A socket given to another reader (node:http, a WebSocket tunnel): its reads, still landing in the
 * shared buffer, are copied and pushed into its stream as net does without `onread` (a full stream
 * stops reading until it is read).
 */
export function readAsStream(socket: Socket): void {
  if (ONREAD === undefined) return;
  const fields = socket as unknown as Record<symbol, unknown>;
  if (fields[ONREAD.callback] == null) return;
  fields[ONREAD.callback] = (bytes: number, buffer: Buffer): boolean => socket.push(Buffer.from(buffer.subarray(0, bytes)));
}
