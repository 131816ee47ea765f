/**
 * One timer for the deadlines of many connections (the raw engine's connect, response-header and
 * idle timeouts, and the parked connections' idle limit, of one pool). A socket's own timeout (`socket.setTimeout`) is an inactivity timer
 * that net re-arms on every read and write, ~560 instructions each, two a proxied request. Here a
 * connection only records when it must be done by and says so (`require`); the timer is armed
 * for the earliest deadline it was told of and re-armed only for an earlier one. Deadlines of a
 * pool mostly grow (each request's is later than the last), so a busy pool arms it about once a
 * timeout period, not once a request. When it fires, `expire` visits the pool's connections:
 * those past their deadline fail, and it returns the earliest deadline still ahead.
 *
 * Deadlines are `performance.now()` milliseconds. A deadline pushed later needs no call: the
 * timer fires early, finds it ahead and re-arms for it.
 */
import { performance } from 'node:perf_hooks';
import { MAX_DURATION_MS } from '../../config/duration.js';

/** Visits every connection at `now`, failing those past their deadline: the earliest deadline left (Infinity: none). */
export type ExpireDue = (now: number) => number;

export class DeadlineTimer {
  #timer: NodeJS.Timeout | undefined;
  /** The deadline the timer is armed for (Infinity: not armed). */
  #armedFor = Infinity;

  constructor(private readonly expire: ExpireDue) {}

  /** Something must happen by `deadline`: the timer fires then at the latest. */
  require(deadline: number): void {
    if (deadline < this.#armedFor) this.#arm(deadline);
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
  }

  #arm(deadline: number): void {
    clearTimeout(this.#timer);
    this.#armedFor = deadline;
    // Timers count whole milliseconds from the loop's clock: never 0 (a spin), at most 1 ms late;
    // and never past what a Node.js timer takes (a longer delay fires after 1 ms): it re-arms then.
    const delay = Math.min(MAX_DURATION_MS, Math.max(1, Math.ceil(deadline - performance.now())));
    // Unref'd like a socket's own timer: an open socket, not its deadline, keeps the process alive.
    this.#timer = setTimeout(this.#fire, delay).unref();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#armedFor = Infinity;
    const next = this.expire(performance.now());
    if (next !== Infinity) this.require(next);
  };
}
