/**
 * Engine 2: undici, driven through its low-level dispatcher API. One `Pool` per
 * endpoint address with bounded, kept-alive connections; each attempt is one
 * `pool.dispatch` with a handler object that writes the upstream response straight
 * into the client response. The handler is the whole per-attempt state: no
 * stream wrappers, no AbortController, no header map (the raw header list goes
 * to node:http as it came), which is most of what `pool.stream` costs on top.
 *
 * Backpressure both ways: a slow client pauses the upstream parser (`onData`
 * returns false until `drain`); a streamed request body is piped by undici.
 * The client going away aborts the upstream request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { undiciParts, type Dispatcher, type Pool } from '../../net/undici-parts.js';
import type { Endpoint } from '../../endpoint.js';
import {
  MAX_UPSTREAM_CONNECTIONS,
  UPSTREAM_IDLE_TIMEOUT_MS,
  UpstreamProtocolError,
  isForwardableStatus,
  upstreamErrorReason,
  type AttemptOptions,
  type AttemptResult,
  type EngineStats,
  type ForwardEngine,
} from '../forwarder.js';
import { preciseConnector } from './precise-connect.js';

type Abort = (err?: Error) => void;

/** One attempt: undici calls these as the exchange progresses; `done` resolves exactly once. */
class Attempt {
  status = 0;
  upstreamMs = 0;
  sent = false;
  aborted = false;
  readonly done: Promise<AttemptResult>;
  #settle!: (result: AttemptResult) => void;
  #settled = false;
  /** undici's abort for this request; undefined until it is written to a connection. */
  #abort: Abort | undefined;
  #resume: (() => void) | undefined;
  /** Where the body goes (the client response or a policy transform); undefined = the answer was refused and is dropped. */
  #sink: Writable | undefined;
  /** undici finished (complete or failed) with the request. */
  #finished = false;
  readonly #started = performance.now();

  constructor(
    readonly res: ServerResponse,
    readonly attempt: AttemptOptions,
  ) {
    this.done = new Promise((resolve) => (this.#settle = resolve));
  }

  /** The client went away, or the handler aborted the attempt (body over the limit). */
  readonly cancel = (): void => {
    if (this.#finished || this.aborted) return;
    this.aborted = true;
    // Not yet on a connection: onConnect aborts it when its turn comes.
    this.#abort?.(abortError());
  };

  /** The client response closed: after a complete exchange this is the end of the attempt. */
  readonly onClientClose = (): void => {
    if (!this.#finished) this.cancel();
    else this.#resolve(undefined);
  };

  onConnect(abort: Abort): void {
    if (this.aborted) abort(abortError());
    else this.#abort = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (!isForwardableStatus(statusCode)) {
      // Nothing was sent yet: undici calls onError with this, and the client gets a 502.
      this.#abort!(new UpstreamProtocolError(statusCode));
      return false;
    }
    // 1xx interim responses are answered by node:http itself where needed.
    if (statusCode < 200) return true;
    this.upstreamMs = performance.now() - this.#started;
    this.status = statusCode;
    this.#resume = resume;
    const headers = new Array<string>(rawHeaders.length);
    for (let i = 0; i < rawHeaders.length; i++) headers[i] = rawHeaders[i]!.toString('latin1');
    this.#sink = this.attempt.writeHead(statusCode, headers);
    // Refused (sink undefined): the body is read and dropped, so the connection stays reusable.
    this.sent = this.#sink !== undefined;
    return true;
  }

  onData(chunk: Buffer): boolean {
    const sink = this.#sink;
    if (sink === undefined || sink.write(chunk)) return true;
    sink.once('drain', this.#onDrain);
    return false;
  }

  onComplete(): void {
    this.#finished = true;
    if (this.#sink === undefined) {
      this.#resolve(undefined);
      return;
    }
    // The attempt ends when the client response closes (flushed, or the client left).
    this.#sink.end();
    if (this.res.closed) this.#resolve(undefined);
  }

  onError(err: Error): void {
    this.#finished = true;
    if (this.aborted || (this.res.destroyed && !this.sent)) {
      this.aborted = true;
      this.#resolve(undefined);
      return;
    }
    // Once the head is out the client must see a broken response, not a clean end.
    if (this.sent) this.res.destroy();
    this.#resolve(upstreamErrorReason(err));
  }

  readonly #onDrain = (): void => this.#resume?.();

  #resolve(error: AttemptResult['error']): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#settle({ status: this.status, sent: this.sent, error, aborted: this.aborted, upstreamMs: this.upstreamMs });
  }
}

function abortError(): Error {
  return Object.assign(new Error('request aborted'), { name: 'AbortError', code: 'UND_ERR_ABORTED' });
}

export class UndiciEngine implements ForwardEngine {
  readonly name = 'undici' as const;
  /**
   * Pools by connect timeout, then address: undici fixes the connect timeout per pool, and
   * routes to one address may set different ones. Two lookups, no key built per request.
   */
  readonly #pools = new Map<number, Map<string, Pool>>();
  /** Pools of forgotten addresses, closing once their requests are done (still counted in stats). */
  readonly #retiring = new Set<Pool>();

  async forward(req: IncomingMessage, res: ServerResponse, endpoint: Endpoint, attempt: AttemptOptions): Promise<AttemptResult> {
    const pool = this.#pool(endpoint.address, attempt.timeouts.connect);
    const exchange = new Attempt(res, attempt);
    res.once('close', exchange.onClientClose);
    const signal = attempt.signal;
    signal?.addEventListener('abort', exchange.cancel, { once: true });
    if (signal?.aborted || res.destroyed) exchange.cancel();
    try {
      pool.dispatch(
        {
          path: attempt.path,
          method: attempt.method as Dispatcher.HttpMethod,
          headers: attempt.headers as Record<string, string | string[]>,
          body: attempt.body ?? (attempt.streamBody ? req : null),
          headersTimeout: attempt.timeouts.header,
          // undici's body timeout is inactivity between body chunks: our idle timeout.
          bodyTimeout: attempt.timeouts.idle,
        },
        exchange as unknown as Dispatcher.DispatchHandler,
      );
      return await exchange.done;
    } finally {
      res.off('close', exchange.onClientClose);
      signal?.removeEventListener('abort', exchange.cancel);
    }
  }

  stats(): EngineStats {
    let sockets = 0;
    let pending = 0;
    for (const pool of [...this.#allPools(), ...this.#retiring]) {
      sockets += pool.stats.connected;
      pending += pool.stats.pending;
    }
    return { sockets, pending };
  }

  forget(address: string): void {
    for (const byAddress of this.#pools.values()) {
      const pool = byAddress.get(address);
      if (pool === undefined) continue;
      byAddress.delete(address);
      this.#retiring.add(pool);
      // close() lets queued and running requests finish, then ends the connections.
      pool
        .close()
        .catch(() => {})
        .finally(() => this.#retiring.delete(pool));
    }
  }

  async close(): Promise<void> {
    const pools = [...this.#allPools(), ...this.#retiring];
    this.#pools.clear();
    this.#retiring.clear();
    await Promise.all(pools.map((pool) => pool.destroy()));
  }

  #pool(address: string, connectTimeout: number): Pool {
    let byAddress = this.#pools.get(connectTimeout);
    if (byAddress === undefined) {
      byAddress = new Map();
      this.#pools.set(connectTimeout, byAddress);
    }
    let pool = byAddress.get(address);
    if (pool === undefined) {
      pool = new (undiciParts().Pool)(`http://${address}`, {
        connections: MAX_UPSTREAM_CONNECTIONS,
        keepAliveTimeout: UPSTREAM_IDLE_TIMEOUT_MS,
        keepAliveMaxTimeout: UPSTREAM_IDLE_TIMEOUT_MS,
        connect: preciseConnector(connectTimeout),
      });
      // A pool-level error (e.g. a connection dying while idle) must never crash the process.
      pool.on('connectionError', () => {});
      byAddress.set(address, pool);
    }
    return pool;
  }

  *#allPools(): IterableIterator<Pool> {
    for (const byAddress of this.#pools.values()) yield* byAddress.values();
  }
}
