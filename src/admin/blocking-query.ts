/**
 * Blocking queries (`GET /v1/services/{service}?wait=REV&timeout=30s`) for
 * client-side discovery: answer at once when the service changed after REV, else
 * park until it changes or the timeout passes. Parked requests are bounded
 * (admin.maxWaiters) because each holds a socket; a client that disconnects
 * frees its slot at once, and close() answers everyone still parked.
 */
import { ErrorCodes, WaypostError, invalid } from '../errors.js';
import { parseDuration } from '../config/duration.js';
import type { RegistryMirror } from '../mirror/mirror.js';
import type { ServiceState } from '../registry/store.js';

export const DEFAULT_WAIT_TIMEOUT_MS = 30_000;
/** Longer timeouts are cut to this (as Consul does), not refused. */
export const MAX_WAIT_TIMEOUT_MS = 5 * 60_000;

export interface BlockingQueryParams {
  readonly afterRevision: number;
  readonly timeoutMs: number;
}

/** `undefined` when the query has no `wait` (a plain read). */
export function parseBlockingQuery(query: URLSearchParams): BlockingQueryParams | undefined {
  const wait = query.get('wait');
  const timeout = query.get('timeout');
  if (wait === null) {
    if (timeout !== null) throw invalid('timeout', 'timeout is only valid together with wait=REVISION');
    return undefined;
  }
  if (!/^\d{1,15}$/.test(wait)) {
    throw invalid('wait', `wait must be a revision: a non-negative integer; got ${JSON.stringify(wait)}`);
  }
  let timeoutMs = DEFAULT_WAIT_TIMEOUT_MS;
  if (timeout !== null) {
    const parsed = parseDuration(timeout);
    if (parsed === undefined) {
      throw invalid('timeout', `timeout must be a duration like 500ms, 30s or 5m; got ${JSON.stringify(timeout)}`);
    }
    timeoutMs = Math.min(parsed, MAX_WAIT_TIMEOUT_MS);
  }
  return { afterRevision: Number(wait), timeoutMs };
}

export class BlockingQueries {
  readonly #mirror: RegistryMirror;
  readonly #maxWaiters: number;
  /** One controller per parked request; aborting answers it with the current state. */
  readonly #parked = new Set<AbortController>();
  #closed = false;

  constructor(mirror: RegistryMirror, maxWaiters: number) {
    this.#mirror = mirror;
    this.#maxWaiters = maxWaiters;
  }

  get parked(): number {
    return this.#parked.size;
  }

  /**
   * The service state to answer with. Throws 429 when the request would have to
   * park and every slot is taken. `clientGone` aborts when the client disconnects.
   */
  async wait(service: string, params: BlockingQueryParams, clientGone: AbortSignal): Promise<ServiceState> {
    const current = this.#mirror.service(service);
    const answerNow =
      (current !== undefined && current.revision > params.afterRevision) ||
      this.#closed ||
      clientGone.aborted ||
      params.timeoutMs === 0;
    if (answerNow) {
      return this.#mirror.waitForChange(service, params.afterRevision, 0);
    }
    return this.#park(clientGone, (signal) => this.#mirror.waitForChange(service, params.afterRevision, params.timeoutMs, signal));
  }

  /**
   * Waits for any registry change after `afterRevision` (Consul's catalog index), under the
   * same bound and release rules as `wait`. Resolves whether or not one came.
   */
  async waitForAnyChange(params: BlockingQueryParams, clientGone: AbortSignal): Promise<void> {
    if (this.#mirror.revision > params.afterRevision || this.#closed || clientGone.aborted || params.timeoutMs === 0) return;
    await this.#park(clientGone, (signal) => this.#mirror.waitForRevision(params.afterRevision + 1, params.timeoutMs, signal));
  }

  /** Parks another kind of wait (e.g. `GET /v1/routes?wait=REV`) under the same bound and release rules. */
  park<T>(clientGone: AbortSignal, wait: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return this.#park(clientGone, wait);
  }

  /** One parked request: counted against maxWaiters, answered early by its client leaving or releaseAll(). */
  async #park<T>(clientGone: AbortSignal, wait: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.#parked.size >= this.#maxWaiters) {
      throw new WaypostError(
        ErrorCodes.LIMIT_EXCEEDED,
        `too many blocking queries are parked (admin.maxWaiters is ${this.#maxWaiters}); retry later`,
      );
    }
    const controller = new AbortController();
    const onGone = () => controller.abort();
    clientGone.addEventListener('abort', onGone, { once: true });
    this.#parked.add(controller);
    try {
      return await wait(controller.signal);
    } finally {
      this.#parked.delete(controller);
      clientGone.removeEventListener('abort', onGone);
    }
  }

  /** Answers every parked request now; later queries answer at once. */
  releaseAll(): void {
    this.#closed = true;
    for (const controller of [...this.#parked]) controller.abort();
  }
}
