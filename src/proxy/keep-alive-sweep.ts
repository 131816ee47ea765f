/**
 * Closes HTTP/1.1 client connections that sat idle between requests for `idleMs`, from one
 * timer per listener instead of node:http's `keepAliveTimeout`.
 *
 * node:http re-arms a connection's socket timer around every request when `keepAliveTimeout`
 * is set: the keep-alive limit once the answer is sent, then back to the client idle timeout
 * when the next request starts; each is a new Timeout and a bound function. That measured
 * ~1.9 % of the instructions of a proxied request (bench/instructions.ts). With it off, a
 * connection keeps the one timer it gets at accept (the client idle timeout, refreshed by
 * traffic), and this sweep looks at every connection once per `intervalMs`: one that read
 * nothing since the last look and has no answer in progress is idle since then, and is closed
 * once that has lasted `idleMs` (so after `idleMs` to `idleMs + intervalMs` of idleness).
 *
 * It reads node:http's own marks, as its closeIdleConnections() does: `_httpMessage` is the
 * response being written on the socket (null between requests) and `parser` is gone once the
 * connection was upgraded (a WebSocket or CONNECT tunnel is not an HTTP keep-alive connection).
 */
import type { Socket } from 'node:net';

interface Watched {
  bytesRead: number;
  /** When the last look saw traffic or an answer under way (`now()`). */
  activeAt: number;
}

type HttpSocket = Socket & { _httpMessage?: unknown; parser?: unknown };

export class KeepAliveSweep {
  readonly #connections = new Map<HttpSocket, Watched>();
  readonly #timer: NodeJS.Timeout;

  constructor(
    readonly idleMs: number,
    intervalMs = 1_000,
    readonly now: () => number = Date.now,
  ) {
    this.#timer = setInterval(() => this.sweep(), intervalMs);
    this.#timer.unref();
  }

  /** A connection node:http accepted; it is forgotten when it closes. */
  watch(socket: Socket): void {
    this.#connections.set(socket, { bytesRead: socket.bytesRead, activeAt: this.now() });
    socket.once('close', () => this.#connections.delete(socket));
  }

  /** Connections being watched (for tests). */
  get size(): number {
    return this.#connections.size;
  }

  /** One look at every connection (the timer's; public for tests). */
  sweep(): void {
    const now = this.now();
    for (const [socket, watched] of this.#connections) {
      if (socket.parser == null || socket.destroyed) {
        // Upgraded (or already going): no longer node:http's to close.
        this.#connections.delete(socket);
        continue;
      }
      const bytesRead = socket.bytesRead;
      if (bytesRead !== watched.bytesRead || socket._httpMessage != null) {
        watched.bytesRead = bytesRead;
        watched.activeAt = now;
      } else if (now - watched.activeAt >= this.idleMs) {
        this.#connections.delete(socket);
        socket.destroy();
      }
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#connections.clear();
  }
}
