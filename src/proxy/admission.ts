/**
 * Where an HTTP request on a route with a `concurrency` limit takes its first
 * instance slot (src/policy/concurrency.ts): on the picked instance when it has a
 * free slot, else on another of the route's instances (the balancer picks again
 * with the full ones skipped), else after waiting in the route's queue — woken
 * when any request to the service frees a slot, then picking again — or refused
 * as `overloaded` when the queue is full or `queueTimeout` passes. A client that
 * leaves while queued leaves the queue.
 *
 * Only the slow path allocates: a request that finds a slot at once costs one
 * map read and write.
 */
import type { ServerResponse } from 'node:http';
import type { Endpoint } from '../endpoint.js';
import type { ConcurrencyLimit, SlotWaiter } from '../policy/concurrency.js';
import { pickUntried, type AttemptRoute, type RetryPickContext } from './attempts.js';

/** Why no slot was given: the limit refused the request, or its client left while it waited. */
export type NoSlot = 'overloaded' | 'client_abort';

/** The endpoint whose slot the request now holds, or why none; a promise only when it waits. */
export function admit(
  first: Endpoint,
  route: AttemptRoute,
  ctx: RetryPickContext,
  limit: ConcurrencyLimit,
  res: ServerResponse,
): Endpoint | NoSlot | Promise<Endpoint | NoSlot> {
  const endpoint = acquire(first, route, ctx, limit);
  if (endpoint !== undefined) return endpoint;
  if (res.destroyed) return 'client_abort';
  const waiter = new QueuedRequest(route, ctx, limit, res);
  if (!limit.enqueue(waiter)) {
    waiter.stopWatching();
    return 'overloaded';
  }
  return waiter.done;
}

/** A slot on `first`, or on another instance the route picks with `first` skipped. */
function acquire(first: Endpoint, route: AttemptRoute, ctx: RetryPickContext, limit: ConcurrencyLimit): Endpoint | undefined {
  if (limit.tryAcquire(first)) return first;
  const mark = ctx.tried.length;
  ctx.addTried(first);
  const endpoint = pickUntried(route, ctx, limit);
  ctx.forgetTried(mark);
  return endpoint;
}

/** One queued request (the slow path: an object and a close listener per waiting request). */
class QueuedRequest implements SlotWaiter {
  deadline = 0;
  readonly done: Promise<Endpoint | NoSlot>;
  #settle!: (result: Endpoint | NoSlot) => void;

  constructor(
    readonly route: AttemptRoute,
    readonly ctx: RetryPickContext,
    readonly limit: ConcurrencyLimit,
    readonly res: ServerResponse,
  ) {
    this.done = new Promise((resolve) => (this.#settle = resolve));
    res.once('close', this.#onClose);
  }

  admit(): boolean {
    const endpoint = this.route.pick(this.ctx);
    const admitted = endpoint === undefined ? undefined : acquire(endpoint, this.route, this.ctx, this.limit);
    if (admitted === undefined) return false;
    this.#finish(admitted);
    return true;
  }

  expire(): void {
    this.#finish('overloaded');
  }

  stopWatching(): void {
    this.res.off('close', this.#onClose);
  }

  readonly #onClose = (): void => {
    this.limit.leave(this);
    this.#finish('client_abort');
  };

  #finish(result: Endpoint | NoSlot): void {
    this.stopWatching();
    this.#settle(result);
  }
}
