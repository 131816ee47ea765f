/**
 * The `concurrency` key of a route (DESIGN §8, circuit breaking): at most
 * `maxPerInstance` requests in flight per instance (counted in the app's
 * InstanceSlots), and a bounded FIFO of requests waiting for a slot when every
 * instance is full. A waiter is admitted when a slot frees (it re-picks then) and
 * refused (`overloaded`) when the queue is full or after `queueTimeout`.
 *
 * One timer per route queue, not per request: every waiter of a route waits the
 * same `queueTimeout`, so deadlines are in queue order and the timer only ever
 * needs the head's. The proxy side (src/proxy/admission.ts) picks and waits; this
 * file only counts and queues.
 */
import { performance } from 'node:perf_hooks';
import type { Counter, Gauge } from 'prom-client';
import type { ConcurrencyConfig } from '../config/policy-schema.js';
import type { Endpoint } from '../endpoint.js';
import type { PolicyDeps, PolicyRoute } from './chain.js';
import { InstanceSlots, type SlotQueue } from './instance-slots.js';

/** A request waiting for a slot. */
export interface SlotWaiter {
  /** performance.now() after which it is refused; set by enqueue. */
  deadline: number;
  /** Tries to take a slot (re-picking an instance); true when it did and stops waiting. */
  admit(): boolean;
  /** Waited `queueTimeout` without a slot. */
  expire(): void;
}

export class ConcurrencyLimit implements SlotQueue {
  readonly maxPerInstance: number;
  readonly maxPending: number;
  readonly queueTimeout: number;
  /** Insertion order is FIFO order; delete is O(1) for a client that leaves. */
  readonly #queue = new Set<SlotWaiter>();
  #timer: NodeJS.Timeout | undefined;
  #waking = false;

  constructor(
    config: ConcurrencyConfig,
    readonly service: string,
    readonly slots: InstanceSlots,
    /** waypost_pending_requests{service} */
    readonly pending: Gauge.Internal<string> | undefined,
    /** waypost_overload_rejections_total{service} */
    readonly rejections: Counter.Internal | undefined,
    readonly now: () => number = () => performance.now(),
  ) {
    this.maxPerInstance = config.maxPerInstance;
    this.maxPending = config.maxPending;
    this.queueTimeout = config.queueTimeout;
  }

  tryAcquire(endpoint: Endpoint): boolean {
    return this.slots.tryAcquire(endpoint, this.maxPerInstance);
  }

  /** Frees a slot; waiting requests of this service (any route) are admitted. */
  release(endpoint: Endpoint): void {
    this.slots.release(endpoint);
  }

  /** Requests waiting now. */
  get waiting(): number {
    return this.#queue.size;
  }

  /** Queues a request; false (counted as an overload rejection) when the queue is full. */
  enqueue(waiter: SlotWaiter): boolean {
    if (this.#queue.size >= this.maxPending) {
      this.rejections?.inc();
      return false;
    }
    waiter.deadline = this.now() + this.queueTimeout;
    if (this.#queue.size === 0) this.slots.watch(this.service, this);
    this.#queue.add(waiter);
    this.pending?.inc();
    this.#timer ??= this.#arm(this.queueTimeout);
    return true;
  }

  /** The waiter gave up (its client left). */
  leave(waiter: SlotWaiter): void {
    if (this.#queue.delete(waiter)) this.#left();
  }

  wake(): void {
    // A waiter's admit() takes a slot; never re-enter from a release inside it.
    if (this.#waking) return;
    this.#waking = true;
    try {
      for (const waiter of this.#queue) {
        if (!waiter.admit()) break;
        this.#queue.delete(waiter);
        this.#left();
      }
    } finally {
      this.#waking = false;
    }
  }

  #left(): void {
    this.pending?.dec();
    if (this.#queue.size > 0) return;
    this.slots.unwatch(this.service, this);
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): NodeJS.Timeout {
    const timer = setTimeout(this.#expire, Math.max(0, ms));
    timer.unref();
    return timer;
  }

  readonly #expire = (): void => {
    this.#timer = undefined;
    const now = this.now();
    for (const waiter of this.#queue) {
      if (waiter.deadline > now) {
        this.#timer = this.#arm(waiter.deadline - now);
        return;
      }
      this.#queue.delete(waiter);
      this.#left();
      this.rejections?.inc();
      waiter.expire();
    }
  };
}

/** The `concurrency` key's builder (chain.ts). Without the app's InstanceSlots (unit tests) the route counts alone. */
export function buildConcurrency(config: ConcurrencyConfig, route: PolicyRoute, deps: PolicyDeps): ConcurrencyLimit {
  return new ConcurrencyLimit(
    config,
    route.service,
    deps.instanceSlots ?? new InstanceSlots(),
    deps.metrics.pendingRequests.labels(route.service),
    deps.metrics.overloadRejections.labels(route.service),
  );
}
