/**
 * Engine 3: raw. HTTP/1.1 to upstreams on plain `net` sockets parsed by Node's own
 * llhttp binding (raw-connection.ts), pooled per address (raw-pool.ts). Per attempt it
 * builds one head string and one RawAttempt: no ClientRequest, no undici request and
 * handler objects, no header map for the answer (llhttp's raw list goes to writeHead).
 * The head and a buffered body leave in one write.
 *
 * Backpressure both ways: a slow client pauses the upstream socket (the sink's `drain`
 * resumes it); a slow upstream pauses a streamed client request. The client going away
 * or the body limit aborting the attempt closes the upstream connection.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Writable } from 'node:stream';
import type { Endpoint } from '../../endpoint.js';
import {
  upstreamErrorReason,
  type AttemptOptions,
  type AttemptResult,
  type EngineStats,
  type ForwardEngine,
} from '../forwarder.js';
import type { RawConnection, RawExchange } from './raw-connection.js';
import { RawPool, type PooledExchange } from './raw-pool.js';
import { requestHead, type RequestHead } from './raw-request-head.js';
import { RawResponse } from '../raw-http1/response.js';

/** One attempt on one upstream connection; `done` resolves exactly once. */
class RawAttempt implements RawExchange, PooledExchange {
  status = 0;
  upstreamMs = 0;
  sent = false;
  aborted = false;
  readonly done: Promise<AttemptResult>;
  readonly method: string;
  readonly headerTimeout: number;
  readonly idleTimeout: number;
  #settle!: (result: AttemptResult) => void;
  #settled = false;
  #connection: RawConnection | undefined;
  /** Where the body goes (the client response or a policy transform); undefined = refused, dropped. */
  #sink: Writable | undefined;
  /** The sink when it is the raw listener's response itself (no policy transform): it takes views of the read buffer. */
  #rawSink: RawResponse | undefined;
  /** The connection is done with the exchange (complete or failed). */
  #finished = false;
  /** The client response is corked until the read that carried the head is parsed. */
  #corked = false;
  #onDrain: (() => void) | undefined;
  /** The raw listener's response whose closeHook watches for the client leaving (else a 'close' listener does). */
  #hooked: RawResponse | undefined;
  #onAbort: (() => void) | undefined;
  readonly #started = performance.now();

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly attempt: AttemptOptions,
    readonly head: RequestHead,
    readonly pool: RawPool,
  ) {
    this.method = attempt.method;
    this.headerTimeout = attempt.timeouts.header;
    this.idleTimeout = attempt.timeouts.idle;
    this.done = new Promise((resolve) => (this.#settle = resolve));
  }

  startOn(connection: RawConnection): void {
    this.#connection = connection;
    const attempt = this.attempt;
    const stream = attempt.body === undefined && attempt.streamBody ? this.req : undefined;
    connection.start(this, this.head.text, attempt.body, stream, this.head.framing);
  }

  /**
   * Listens for the client leaving and the handler aborting until the attempt is settled: through
   * the raw listener's closeHook, else a plain `on` (not `once`: no wrapper per request); #resolve
   * takes both off again.
   */
  watch(): void {
    const res = this.res;
    if (res instanceof RawResponse && res.closeHook === undefined) {
      this.#hooked = res;
      res.closeHook = this.#onClientClose;
    } else {
      res.on('close', this.#onClientClose);
    }
    const signal = this.attempt.signal;
    if (signal !== undefined) {
      this.#onAbort = () => this.cancel();
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** The client went away, or the handler aborted the attempt (body over the limit). */
  cancel(): void {
    if (this.#finished || this.aborted) return;
    this.aborted = true;
    if (this.#connection !== undefined) {
      this.#connection.abort(abortError());
    } else {
      // Still waiting for a connection (or never dispatched).
      this.pool.remove(this);
      this.#finished = true;
      this.#resolve(undefined);
    }
  }

  /** The client response closed: after a complete exchange this is the end of the attempt. */
  readonly #onClientClose = (): void => {
    if (!this.#finished) this.cancel();
    else this.#resolve(undefined);
  };

  onHead(status: number, fields: string[]): void {
    // Head and the body parsed from the same read leave together (flush); HTTP/2 responses have no cork.
    if (this.res.cork !== undefined && !this.#corked) {
      this.res.cork();
      this.#corked = true;
    }
    this.upstreamMs = performance.now() - this.#started;
    this.status = status;
    this.#sink = this.attempt.writeHead(status, fields);
    this.#rawSink = this.#sink instanceof RawResponse ? this.#sink : undefined;
    // Refused (sink undefined): the body is read and dropped, so the connection stays reusable.
    this.sent = this.#sink !== undefined;
  }

  onBodyView(view: Buffer): boolean {
    const raw = this.#rawSink;
    // The response holds the view only until this read is over (flush), then copies it once into its write.
    if (raw !== undefined) return raw.writeTransient(view) || this.#waitForDrain(raw);
    return this.#sink === undefined || this.onBody(Buffer.from(view));
  }

  onBody(chunk: Buffer): boolean {
    const sink = this.#sink;
    if (sink === undefined || sink.write(chunk)) return true;
    return this.#waitForDrain(sink);
  }

  /** The sink is full: reading stops until it drains. Always false. */
  #waitForDrain(sink: Writable | RawResponse): boolean {
    // Made on the first full sink only: most attempts never need it.
    this.#onDrain ??= () => this.#connection?.resume();
    sink.once('drain', this.#onDrain);
    return false;
  }

  onComplete(): void {
    this.#finished = true;
    this.#connection = undefined;
    const sink = this.#sink;
    if (sink === undefined) {
      this.#resolve(undefined);
      return;
    }
    // The attempt ends when the client response closes (flushed, or the client left).
    sink.end();
    if (this.res.closed) this.#resolve(undefined);
  }

  onError(err: Error): void {
    this.#finished = true;
    this.#connection = undefined;
    if (this.aborted || (this.res.destroyed && !this.sent)) {
      this.aborted = true;
      this.#resolve(undefined);
      return;
    }
    // Once the head is out the client must see a broken response, not a clean end.
    if (this.sent) this.res.destroy();
    this.#resolve(upstreamErrorReason(err));
  }

  flush(): void {
    if (this.#corked) {
      this.#corked = false;
      this.res.uncork();
    }
    // Still held (someone else corked the response too): the read buffer is about to be reused.
    this.#rawSink?.keepHeld();
  }

  #resolve(error: AttemptResult['error']): void {
    if (this.#settled) return;
    this.#settled = true;
    const hooked = this.#hooked;
    if (hooked === undefined) this.res.off('close', this.#onClientClose);
    else if (hooked.closeHook === this.#onClientClose) hooked.closeHook = undefined;
    if (this.#onAbort !== undefined) this.attempt.signal!.removeEventListener('abort', this.#onAbort);
    this.#settle({ status: this.status, sent: this.sent, error, aborted: this.aborted, upstreamMs: this.upstreamMs });
  }
}

function abortError(): Error {
  return Object.assign(new Error('request aborted'), { name: 'AbortError', code: 'ABORT_ERR' });
}

/** A request the engine will not send as it is (a CR/LF in a header value): failed before any byte left. */
const UNSENDABLE: AttemptResult = Object.freeze({ status: 0, sent: false, error: 'other', aborted: false, upstreamMs: 0 });

export class RawEngine implements ForwardEngine {
  readonly name = 'raw' as const;
  /** Pools by connect timeout, then address: two lookups, no key built per request. */
  readonly #pools = new Map<number, Map<string, RawPool>>();
  /** Pools of forgotten addresses, closing once their exchanges are done (still counted in stats). */
  readonly #retiring = new Set<RawPool>();

  /** Not async: the attempt's own promise is the answer (one promise per attempt, not two). */
  forward(req: IncomingMessage, res: ServerResponse, endpoint: Endpoint, attempt: AttemptOptions): Promise<AttemptResult> {
    let head: RequestHead;
    try {
      head = requestHead(attempt, endpoint.address);
    } catch {
      return Promise.resolve(UNSENDABLE);
    }
    const pool = this.#pool(endpoint.address, attempt.timeouts.connect);
    const exchange = new RawAttempt(req, res, attempt, head, pool);
    exchange.watch();
    if (attempt.signal?.aborted || res.destroyed) exchange.cancel();
    else pool.dispatch(exchange);
    return exchange.done;
  }

  stats(): EngineStats {
    let sockets = 0;
    let pending = 0;
    for (const pool of [...this.#allPools(), ...this.#retiring]) {
      sockets += pool.sockets;
      pending += pool.pending;
    }
    return { sockets, pending };
  }

  forget(address: string): void {
    for (const byAddress of this.#pools.values()) {
      const pool = byAddress.get(address);
      if (pool === undefined) continue;
      byAddress.delete(address);
      this.#retiring.add(pool);
      void pool.retire().then(() => this.#retiring.delete(pool));
    }
  }

  async close(): Promise<void> {
    const pools = [...this.#allPools(), ...this.#retiring];
    this.#pools.clear();
    this.#retiring.clear();
    for (const pool of pools) pool.destroy();
  }

  #pool(address: string, connectTimeout: number): RawPool {
    let byAddress = this.#pools.get(connectTimeout);
    if (byAddress === undefined) {
      byAddress = new Map();
      this.#pools.set(connectTimeout, byAddress);
    }
    let pool = byAddress.get(address);
    if (pool === undefined) {
      pool = new RawPool(address, connectTimeout);
      byAddress.set(address, pool);
    }
    return pool;
  }

  *#allPools(): IterableIterator<RawPool> {
    for (const byAddress of this.#pools.values()) yield* byAddress.values();
  }
}
