/**
 * Requests in flight per instance, for every route with a `concurrency` key, owned
 * by the app and shared by every route table it builds: a table rebuild (config
 * reload, live routes) carries the counts over, so an instance's limit holds across
 * it, and two routes to one service count against the same instance.
 *
 * Separate from `endpoint.stats.inflight` on purpose: that count also holds open
 * WebSocket and TCP tunnels (hours long; they would take request slots) and starts
 * only once the body was read, while a slot is taken at the pick. Only instances
 * with a request in flight have an entry, so the map follows the traffic, not the
 * registry.
 *
 * A release wakes the queues of the instance's service that wait (concurrency.ts),
 * whichever route or table the released request came from.
 */
import type { Endpoint } from '../endpoint.js';

/** A queue of requests waiting for a free slot (ConcurrencyLimit). */
export interface SlotQueue {
  /** Admits waiting requests while slots are free. */
  wake(): void;
}

export class InstanceSlots {
  /** Key: endpoint.key (`service/id`) → requests in flight; absent = 0. */
  readonly #inUse = new Map<string, number>();
  /** Service → queues that have waiting requests now. */
  readonly #waiting = new Map<string, Set<SlotQueue>>();

  /** Takes a slot on `endpoint` when it has fewer than `max` in flight. */
  tryAcquire(endpoint: Endpoint, max: number): boolean {
    const n = this.#inUse.get(endpoint.key) ?? 0;
    if (n >= max) return false;
    this.#inUse.set(endpoint.key, n + 1);
    return true;
  }

  release(endpoint: Endpoint): void {
    const n = this.#inUse.get(endpoint.key) ?? 0;
    if (n <= 1) this.#inUse.delete(endpoint.key);
    else this.#inUse.set(endpoint.key, n - 1);
    const queues = this.#waiting.get(endpoint.instance.service);
    if (queues !== undefined) for (const queue of queues) queue.wake();
  }

  inUse(endpoint: Endpoint): number {
    return this.#inUse.get(endpoint.key) ?? 0;
  }

  /** Instances with a request in flight (for tests: the map must not grow with the registry). */
  get size(): number {
    return this.#inUse.size;
  }

  /** `queue` has waiting requests for `service`: releases of its instances wake it. */
  watch(service: string, queue: SlotQueue): void {
    let queues = this.#waiting.get(service);
    if (queues === undefined) this.#waiting.set(service, (queues = new Set()));
    queues.add(queue);
  }

  unwatch(service: string, queue: SlotQueue): void {
    const queues = this.#waiting.get(service);
    if (queues === undefined) return;
    queues.delete(queue);
    if (queues.size === 0) this.#waiting.delete(service);
  }
}
