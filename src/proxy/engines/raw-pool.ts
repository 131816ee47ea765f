/**
 * The raw engine's connections to one upstream address: parked connections are reused
 * last-in first-out (the warmest socket), at most MAX_UPSTREAM_CONNECTIONS are open, and
 * exchanges beyond that wait in arrival order for the next connection to free up.
 *
 * Every connection's deadline (connect, response header, body idle, or parked for
 * UPSTREAM_IDLE_TIMEOUT_MS) is enforced by one DeadlineTimer per pool: no timer is re-armed per
 * request. A parked connection past its deadline is neither reused (RawConnection.reusable) nor
 * kept.
 */
import { MAX_UPSTREAM_CONNECTIONS } from '../forwarder.js';
import { DeadlineTimer } from './deadline-timer.js';
import { RawConnection, type ConnectionOwner } from './raw-connection.js';

/** An exchange as the pool schedules it. */
export interface PooledExchange {
  /** Runs the exchange on `connection`. */
  startOn(connection: RawConnection): void;
  /** Cancelled while waiting: skipped when its turn comes. */
  readonly aborted: boolean;
  /** The pool closed before the exchange got a connection. */
  onError(err: Error): void;
}

export class RawPool implements ConnectionOwner {
  readonly #host: string;
  readonly #port: number;
  readonly #connectTimeout: number;
  readonly #idle: RawConnection[] = [];
  readonly #all = new Set<RawConnection>();
  readonly #waiting: PooledExchange[] = [];
  #retiring = false;
  #onEmpty: (() => void) | undefined;
  readonly #deadlines = new DeadlineTimer((now) => this.#expire(now));

  /** `address`: HOST:PORT with an IPv6 host in brackets (Endpoint.address). */
  constructor(address: string, connectTimeout: number) {
    const colon = address.lastIndexOf(':');
    const host = address.slice(0, colon);
    this.#host = host.startsWith('[') ? host.slice(1, -1) : host;
    this.#port = Number(address.slice(colon + 1));
    this.#connectTimeout = connectTimeout;
  }

  get sockets(): number {
    return this.#all.size;
  }

  get pending(): number {
    return this.#waiting.length;
  }

  dispatch(exchange: PooledExchange): void {
    const idle = this.#idle;
    while (idle.length > 0) {
      const connection = idle.pop()!;
      if (connection.reusable) {
        exchange.startOn(connection);
        return;
      }
      connection.close();
    }
    if (this.#all.size < MAX_UPSTREAM_CONNECTIONS) exchange.startOn(this.#open());
    else this.#waiting.push(exchange);
  }

  /** A waiting exchange was cancelled. */
  remove(exchange: PooledExchange): void {
    const at = this.#waiting.indexOf(exchange);
    if (at !== -1) this.#waiting.splice(at, 1);
  }

  released(connection: RawConnection): void {
    const next = this.#nextWaiting();
    if (next !== undefined) next.startOn(connection);
    else if (this.#retiring) connection.close();
    else this.#idle.push(connection);
  }

  deadline(at: number): void {
    this.#deadlines.require(at);
  }

  closed(connection: RawConnection): void {
    this.#all.delete(connection);
    const at = this.#idle.indexOf(connection);
    if (at !== -1) this.#idle.splice(at, 1);
    // A slot opened up: the next waiting exchange gets a fresh connection.
    const next = this.#nextWaiting();
    if (next !== undefined) next.startOn(this.#open());
    else if (this.#all.size === 0) {
      this.#deadlines.stop();
      this.#onEmpty?.();
    }
  }

  /** The address left the registry: parked connections close now, busy ones once their exchange is over. */
  retire(): Promise<void> {
    this.#retiring = true;
    for (const connection of this.#idle.splice(0)) connection.close();
    if (this.#all.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#onEmpty = resolve));
  }

  /** Closes every connection now: exchanges on them and those still waiting fail. */
  destroy(): void {
    this.#retiring = true;
    for (const exchange of this.#waiting.splice(0)) exchange.onError(poolClosedError());
    for (const connection of this.#all) connection.close();
  }

  /** Fails the connections past their deadline: the earliest deadline left. */
  #expire(now: number): number {
    let next = Infinity;
    for (const connection of this.#all) {
      const deadline = connection.expire(now);
      if (deadline < next) next = deadline;
    }
    return next;
  }

  #open(): RawConnection {
    const connection = new RawConnection(this, this.#host, this.#port, this.#connectTimeout);
    this.#all.add(connection);
    return connection;
  }

  #nextWaiting(): PooledExchange | undefined {
    let next = this.#waiting.shift();
    while (next !== undefined && next.aborted) next = this.#waiting.shift();
    return next;
  }
}

function poolClosedError(): Error {
  return Object.assign(new Error('upstream pool closed'), { code: 'ECONNRESET' });
}
