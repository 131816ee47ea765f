/**
 * One listening socket, two HTTP versions (DESIGN §8 `listen[].protocols`):
 *
 * - cleartext: the first bytes of a connection decide. HTTP/2 with prior knowledge
 *   starts with the connection preface `PRI * HTTP/2.0`; no HTTP/1.1 request can
 *   (PRI is reserved for exactly this), so 4 bytes are enough. The bytes read are
 *   put back and the socket handed to the node:http or node:http2 server as if it
 *   had accepted it itself.
 * - TLS: ALPN decides (`h2`, else `http/1.1`), after the handshake.
 *
 * A protocol not enabled on the listener is refused: an HTTP/1.1-only listener
 * hands everything to node:http (which answers a preface with 400), an HTTP/2-only
 * listener closes connections that do not start with the preface (or negotiate h2).
 */
import type http2 from 'node:http2';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';

const PREFACE_START = Buffer.from('PRI ');

export interface ProtocolListenerOptions {
  /** Serves an HTTP/1.1 connection (node:http's server, or the raw listener: http-listener.ts). */
  http1: (socket: Socket) => void;
  /** Serves HTTP/2 connections (never listens itself); undefined = HTTP/2 off. */
  http2: http2.Http2Server | undefined;
  /** false = HTTP/2 only: HTTP/1.1 connections are closed. */
  allowHttp1: boolean;
  /** TLS listener options (certificates, SNI); ALPN is set here. */
  tls?: tls.TlsOptions;
  /** How long a cleartext connection may take to send its first 4 bytes. */
  firstBytesTimeoutMs: number;
}

/** The server to `listen()` on: it accepts, picks the protocol and hands the socket on. */
export function createProtocolListener(options: ProtocolListenerOptions): net.Server {
  const { http1, http2: h2, allowHttp1: allowH1 } = options;
  if (options.tls !== undefined) {
    const alpn = [...(h2 !== undefined ? ['h2'] : []), ...(allowH1 ? ['http/1.1'] : [])];
    const server = tls.createServer({ ...options.tls, ALPNProtocols: alpn });
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      if (socket.alpnProtocol === 'h2' && h2 !== undefined) h2.emit('connection', socket);
      else if (allowH1) http1(socket);
      else socket.destroy();
    });
    return server;
  }
  const allowH2 = h2 !== undefined;
  if (!allowH2) return netServer(http1);
  return netServer((socket) => {
    sniffPreface(socket, options.firstBytesTimeoutMs, (isH2) => {
      if (isH2) {
        // node:http2 reads what is already buffered (the preface) before it consumes the socket.
        h2!.emit('connection', socket);
      } else if (allowH1) {
        http1(socket);
        // Both HTTP/1.1 servers read through the stream: flowing again, they get the bytes put back first.
        socket.resume();
      } else socket.destroy();
    });
  });
}

function netServer(onConnection: (socket: Socket) => void): net.Server {
  return net.createServer({ noDelay: true }, onConnection);
}

/**
 * Reads until 4 bytes decide, puts them back and calls `decide` once. A client that
 * sends nothing in time is closed; one that closes first is simply gone.
 */
function sniffPreface(socket: Socket, timeoutMs: number, decide: (isH2: boolean) => void): void {
  let seen: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  const onData = (chunk: Buffer): void => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, PREFACE_START.length);
    const isH2 = seen.subarray(0, n).equals(PREFACE_START.subarray(0, n));
    if (isH2 && seen.length < PREFACE_START.length) return; // "PR": wait for more
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', onClose);
    socket.pause();
    socket.unshift(seen);
    decide(isH2);
  };
  const onClose = (): void => clearTimeout(timer);
  socket.on('data', onData);
  socket.once('close', onClose);
  socket.on('error', () => socket.destroy());
}
