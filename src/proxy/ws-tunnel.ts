/**
 * One upgraded WebSocket connection after the 101: relays both ways with
 * backpressure, scans the upstream→client direction for frame boundaries so a
 * drain or shutdown can send the client a clean close frame (1001) without
 * cutting a relayed frame in half, and counts what the client sent (access log).
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Endpoint } from '../endpoint.js';
import type { CloseReason, TrackedConnection } from './connection-tracker.js';
import { CLOSE_GOING_AWAY, FrameScanner, closeFrame } from './ws-frames.js';

/** After our close frame, the closing handshake gets this long before both sockets are cut. */
const CLOSE_HANDSHAKE_MS = 2_000;

export class WebSocketTunnel implements TrackedConnection {
  readonly #client: Duplex;
  readonly #upstream: Socket;
  readonly #scanner = new FrameScanner();
  readonly #onClosed: () => void;
  /** close() was called: waiting for a frame boundary to send our close frame. */
  #closing = false;
  #closeSent = false;
  #finished = false;
  /** Bytes the client sent through the tunnel (its upgrade request's trailing bytes included). */
  bytesIn = 0;

  constructor(
    readonly endpoint: Endpoint,
    client: Duplex,
    upstream: Socket,
    onClosed: () => void,
  ) {
    this.#client = client;
    this.#upstream = upstream;
    this.#onClosed = onClosed;
  }

  start(upstreamHead: Buffer, clientHead: Buffer): void {
    const client = this.#client;
    const upstream = this.#upstream;
    // Long-lived by design: no idle timeout here (applications keep WebSockets alive with pings).
    (client as Partial<Socket>).setTimeout?.(0);
    (client as Partial<Socket>).setNoDelay?.(true);
    upstream.setTimeout(0);
    upstream.setNoDelay(true);

    upstream.on('data', this.#fromUpstream);
    client.on('drain', () => upstream.resume());
    client.on('data', (chunk: Buffer) => {
      this.bytesIn += chunk.length;
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    // Half-close travels through; the WebSocket closing handshake finishes the rest.
    client.on('end', () => upstream.end());
    upstream.on('end', () => {
      if (!this.#closing) client.end();
    });
    const finish = (): void => this.#finish();
    client.on('close', finish);
    upstream.on('close', finish);
    client.on('error', finish);
    upstream.on('error', finish);

    if (upstreamHead.length > 0) this.#fromUpstream(upstreamHead);
    if (clientHead.length > 0) {
      this.bytesIn += clientHead.length;
      upstream.write(clientHead);
    }
    client.resume();
  }

  close(_reason: CloseReason): void {
    if (this.#closing || this.#finished) return;
    this.#closing = true;
    if (this.#scanner.atBoundary) this.#sendClose();
    // A peer that never answers the closing handshake (or a frame that never ends) is cut.
    setTimeout(() => this.#finish(), CLOSE_HANDSHAKE_MS).unref();
  }

  readonly #fromUpstream = (chunk: Buffer): void => {
    if (this.#closeSent) return; // after our close frame nothing more may reach the client
    if (!this.#closing) {
      this.#scanner.feed(chunk);
      if (!this.#client.write(chunk)) this.#upstream.pause();
      return;
    }
    // Finish the frame under way, then close.
    const n = this.#scanner.feed(chunk, true);
    if (n > 0) this.#client.write(chunk.subarray(0, n));
    if (this.#scanner.atBoundary) this.#sendClose();
  };

  #sendClose(): void {
    this.#closeSent = true;
    // The client answers with its own close frame, which still flows upstream, then ends the TCP connection.
    this.#client.end(closeFrame(CLOSE_GOING_AWAY, 'going away', false));
    this.#upstream.resume();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#client.destroy();
    this.#upstream.destroy();
    this.#onClosed();
  }
}

