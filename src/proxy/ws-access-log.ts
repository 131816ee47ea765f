/**
 * The access-log line of one upgrade request (WebSocket), in exactly the fields of an
 * HTTP request's line (access-log.ts AccessLogEntry), and exactly one per upgrade:
 *
 * - answered without switching (refused before routing, no route, no instance, a policy
 *   step, every instance failing, the backend's own refusal): written when that answer
 *   is written (a forwarded refusal: once its body is through), durationMs to that
 *   point, like any HTTP request;
 * - switched (101): written when the tunnel closes, with durationMs the connection's
 *   whole life, bytesIn what the client sent through it, bytesOut everything written to
 *   the client (the 101 head included), upstreamMs the wait for the 101.
 *
 * Why at close: nginx writes an upgraded request's line when the connection ends
 * ($request_time and $bytes_sent cover the whole tunnel), and Envoy by default logs an HTTP
 * stream, an upgraded one included, when it ends (extra lines at its start or periodically
 * are opt-in). A line at the 101 would say nothing about what the tunnel carried, and a
 * second line at close would break "one line per request". The cost: a WebSocket open for
 * hours is logged when it ends (or when a graceful stop closes it).
 *
 * `protocol` is the client's protocol, `HTTP/1.1` (an upgrade is an HTTP/1.1 request;
 * nginx's $server_protocol and Envoy's %PROTOCOL% say the same): status 101 marks a tunnel.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { AccessLogEntry } from '../access-log.js';
import { arrivedEntry } from './access-log-entry.js';

export type AccessLogHook = (entry: AccessLogEntry) => void;

/** One upgrade's line: fields are filled in as the upgrade goes, `write` sends it once. */
export class UpgradeLogLine {
  readonly entry: AccessLogEntry;
  readonly #hook: AccessLogHook;
  readonly #socket: Duplex;
  readonly #started = performance.now();
  /** A keep-alive connection may have carried requests before this upgrade. */
  readonly #bytesBefore: number;
  #written = false;

  constructor(hook: AccessLogHook, req: IncomingMessage, socket: Duplex, requestId: string) {
    this.#hook = hook;
    this.#socket = socket;
    this.#bytesBefore = bytesWritten(socket);
    this.entry = arrivedEntry(req, requestId);
  }

  /**
   * Sends the line with this status and error (unless an error was recorded already: an
   * upstream's failure stays the line's error, as in HTTP's); later calls do nothing.
   */
  write(status: number, error?: string): void {
    if (this.#written) return;
    this.#written = true;
    const { entry } = this;
    entry.status = status;
    entry.error ??= error;
    entry.durationMs = performance.now() - this.#started;
    entry.bytesOut = bytesWritten(this.#socket) - this.#bytesBefore;
    this.#hook(entry);
  }
}

/** What the client socket has been given so far (queued bytes included); 0 for a stream that does not count. */
function bytesWritten(socket: Duplex): number {
  return (socket as Partial<Socket>).bytesWritten ?? 0;
}
