/**
 * Engine 2: undici. One `Pool` per endpoint address with bounded, kept-alive
 * connections; `pool.stream` writes the upstream body straight into the client
 * response (backpressure both ways), and the client request is piped up as the
 * upstream body. The client going away aborts the upstream request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import type { Endpoint } from '../../balancer/policy.js';
import {
  upstreamErrorReason,
  type AttemptOptions,
  type AttemptResult,
  type EngineStats,
  type ForwardEngine,
} from '../forwarder.js';

/** Upstream connections per endpoint at most; further requests queue in the pool. */
const MAX_CONNECTIONS = 256;
/**
 * Idle connections are dropped after this, below the usual backend keep-alive
 * (Node's default is 5 s), so we rarely reuse a socket the backend is closing.
 */
const KEEP_ALIVE_MS = 4_000;

export class UndiciEngine implements ForwardEngine {
  readonly name = 'undici' as const;
  readonly #pools = new Map<string, Pool>();

  async forward(req: IncomingMessage, res: ServerResponse, endpoint: Endpoint, attempt: AttemptOptions): Promise<AttemptResult> {
    const started = performance.now();
    const pool = this.#pool(endpoint.address, attempt.timeouts.connect);
    const abort = new AbortController();
    let status = 0;
    let upstreamMs = 0;
    let sent = false;
    let aborted = false;
    const onClose = (): void => {
      if (!res.writableFinished) {
        aborted = true;
        abort.abort();
      }
    };
    const onSignal = (): void => {
      aborted = true;
      abort.abort();
    };
    res.once('close', onClose);
    attempt.signal?.addEventListener('abort', onSignal, { once: true });
    try {
      if (attempt.signal?.aborted) onSignal();
      await pool.stream(
        {
          path: attempt.path,
          method: attempt.method as 'GET',
          headers: attempt.headers as Record<string, string | string[]>,
          body: attempt.body ?? (attempt.streamBody ? req : null),
          headersTimeout: attempt.timeouts.header,
          // undici's body timeout is inactivity between body chunks: our idle timeout.
          bodyTimeout: attempt.timeouts.idle,
          signal: abort.signal,
        },
        ({ statusCode, headers }) => {
          upstreamMs = performance.now() - started;
          status = statusCode;
          attempt.writeHead(statusCode, headers);
          sent = true;
          return res;
        },
      );
      return { status, sent, error: undefined, aborted: false, upstreamMs };
    } catch (err) {
      if (aborted || (res.destroyed && !res.writableFinished && !sent)) return { status, sent, error: undefined, aborted: true, upstreamMs };
      if (sent) res.destroy();
      return { status, sent, error: upstreamErrorReason(err), aborted: false, upstreamMs };
    } finally {
      res.off('close', onClose);
      attempt.signal?.removeEventListener('abort', onSignal);
    }
  }

  stats(): EngineStats {
    let sockets = 0;
    let pending = 0;
    for (const pool of this.#pools.values()) {
      sockets += pool.stats.connected;
      pending += pool.stats.pending;
    }
    return { sockets, pending };
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => pool.destroy()));
  }

  /** The connect timeout is fixed per pool: the first route to reach an address sets it. */
  #pool(address: string, connectTimeout: number): Pool {
    let pool = this.#pools.get(address);
    if (pool === undefined) {
      pool = new Pool(`http://${address}`, {
        connections: MAX_CONNECTIONS,
        keepAliveTimeout: KEEP_ALIVE_MS,
        keepAliveMaxTimeout: KEEP_ALIVE_MS,
        connect: { timeout: connectTimeout },
      });
      // A pool-level error (e.g. a connection dying while idle) must never crash the process.
      pool.on('connectionError', () => {});
      this.#pools.set(address, pool);
    }
    return pool;
  }
}
