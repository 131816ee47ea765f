/**
 * An open-loop, paced load generator: request k is due at start + k / rate, whatever happened
 * to the earlier ones, and its latency is measured from that due time (so a stall shows up in
 * the latency of every request it delayed: no coordinated omission). wrk and autocannon are
 * closed-loop and report latency at saturation; autocannon's own rate limit sends each
 * second's quota as a burst. This is what "p99 at equal load" needs.
 *
 * Runs in the bench process (pinned to the load CPU, beside the backends), so it must cost
 * little per request: `connections` keep-alive `net` sockets, one pre-encoded request Buffer
 * written per request, answers framed by Node's llhttp binding (the parser node:http uses; no
 * header objects built). A request due while every connection is busy waits in a queue, which
 * counts as latency. An undici Pool here topped out at ~6–7 k req/s on one shared core.
 */
import http from 'node:http';
import net from 'node:net';
import { HTTPParser } from '../../src/net/llhttp.js';
import type { LoadRequest, LoadResult } from './load-types.js';

/** How often the pacer wakes to send what is due. */
const TICK_MS = 1;

/**
 * Unrecorded pacing before the measurement: the generator's own JIT warm-up and its first
 * connections otherwise put ~250 ms of latency into the first second of every run.
 */
const WARMUP_SECONDS = 1.5;

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** One measured stretch: what it recorded, filled in by the connections as answers arrive. */
interface Stretch {
  latencies: Float64Array;
  done: number;
  errors: number;
  non2xx: number;
  /** Due times of requests waiting for a free connection, oldest first. */
  queue: number[];
  queueHead: number;
}

/**
 * A keep-alive connection carrying one request at a time. When the server ends it (nginx closes
 * a client connection after 1,000 requests, announced with `Connection: close`) a new socket
 * takes its place; a request the close caught in flight counts as an error.
 */
class PacedConnection {
  #socket!: net.Socket;
  #due = -1;
  #status = 0;
  #keepAlive = true;
  #stretch: Stretch | undefined;
  #closed = false;

  constructor(
    readonly port: number,
    readonly host: string,
    readonly request: Buffer,
    readonly onFree: (connection: PacedConnection) => void,
  ) {
    this.#connect();
  }

  send(due: number, stretch: Stretch): void {
    this.#due = due;
    this.#stretch = stretch;
    this.#socket.write(this.request);
  }

  close(): void {
    this.#closed = true;
    this.#socket.destroy();
  }

  #connect(): void {
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.RESPONSE, {}, http.maxHeaderSize, HTTPParser.kLenientNone);
    parser[HTTPParser.kOnHeadersComplete] = (...args: unknown[]) => {
      this.#status = args[5] as number;
      this.#keepAlive = args[8] as boolean;
      return 0;
    };
    parser[HTTPParser.kOnMessageComplete] = () => this.#complete(false);
    const socket = net.connect({ port: this.port, host: this.host, noDelay: true });
    socket.on('data', (data: Buffer) => {
      const result = parser.execute(data);
      if (result instanceof Error) socket.destroy(result);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      parser.close();
      if (socket !== this.#socket) return; // already replaced after a Connection: close
      if (this.#due >= 0) this.#complete(true);
      else if (!this.#closed) this.#connect();
    });
    this.#socket = socket;
  }

  #complete(failed: boolean): void {
    const stretch = this.#stretch!;
    stretch.latencies[stretch.done++] = performance.now() - this.#due;
    if (failed) stretch.errors++;
    else if (this.#status < 200 || this.#status >= 300) stretch.non2xx++;
    this.#due = -1;
    if (this.#closed) return;
    if (failed || !this.#keepAlive) {
      const old = this.#socket;
      this.#connect();
      old.destroy();
    }
    this.onFree(this);
  }
}

export async function runPaced(request: LoadRequest & { rate: number }): Promise<LoadResult> {
  const url = new URL(request.url);
  const host = request.hostHeader ?? url.host;
  const bytes = Buffer.from(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${host}\r\n\r\n`, 'latin1');
  let stretch: Stretch | undefined;
  const idle: PacedConnection[] = [];
  const onFree = (connection: PacedConnection): void => {
    // A waiting request goes out at once on the connection that just freed up.
    if (stretch !== undefined && stretch.queueHead < stretch.queue.length) connection.send(stretch.queue[stretch.queueHead++]!, stretch);
    else idle.push(connection);
  };
  const connections = Array.from({ length: request.connections }, () => new PacedConnection(Number(url.port), url.hostname, bytes, onFree));
  idle.push(...connections);
  try {
    await pace(request, WARMUP_SECONDS, (s) => (stretch = s), idle);
    return await pace(request, request.durationSeconds, (s) => (stretch = s), idle);
  } finally {
    for (const connection of connections) connection.close();
  }
}

async function pace(request: LoadRequest & { rate: number }, seconds: number, use: (stretch: Stretch) => void, idle: PacedConnection[]): Promise<LoadResult> {
  const total = Math.max(1, Math.round(request.rate * seconds));
  const stretch: Stretch = { latencies: new Float64Array(total), done: 0, errors: 0, non2xx: 0, queue: [], queueHead: 0 };
  use(stretch);
  const start = performance.now();
  const interval = 1000 / request.rate;
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (sent < total && start + sent * interval <= now) {
        const due = start + sent * interval;
        const connection = idle.pop();
        if (connection !== undefined) connection.send(due, stretch);
        else stretch.queue.push(due);
        sent++;
      }
      if (sent < total) setTimeout(tick, TICK_MS);
      else resolve();
    };
    tick();
  });
  // Answers still in flight: wait for them, bounded.
  const deadline = performance.now() + 30_000;
  while (stretch.done < total && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  const elapsedS = (performance.now() - start) / 1000;
  const measured = stretch.latencies.subarray(0, stretch.done).sort();
  return {
    requestsPerSecond: stretch.done / elapsedS,
    p50Ms: percentile(measured, 0.5),
    p99Ms: percentile(measured, 0.99),
    requests: stretch.done,
    errors: stretch.errors + (total - stretch.done),
    non2xx: stretch.non2xx,
  };
}
