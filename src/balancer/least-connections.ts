/**
 * Least connections for TCP listeners: the same weighted power-of-two-choices
 * as least-request (least-request.ts), where `inflight` counts open connections.
 * P2C rather than a full scan keeps a pick O(log n) for large sets.
 */
import type { Balancer, Endpoint, EndpointSet, PickContext } from './policy.js';
import { pickTwoChoices } from './least-request.js';
import type { RandomSource } from './tried.js';

export class LeastConnectionsBalancer implements Balancer {
  readonly name = 'least-connections';
  readonly #random: RandomSource;

  constructor(random: RandomSource = Math.random) {
    this.#random = random;
  }

  pick(set: EndpointSet, ctx: PickContext): Endpoint | undefined {
    return pickTwoChoices(set, ctx, this.#random);
  }
}

export function createLeastConnections(options: { random?: RandomSource } = {}): LeastConnectionsBalancer {
  return new LeastConnectionsBalancer(options.random);
}
