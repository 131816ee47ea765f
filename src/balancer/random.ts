/**
 * Weighted random: a uniform draw over the cumulative weights, found by binary
 * search (O(log n)). The cumulative array is computed once per set. Retries that
 * must skip tried endpoints draw over the remaining weight instead (O(n), rare).
 */
import type { Balancer, PickContext } from './policy.js';
import type { Endpoint, EndpointSet } from '../endpoint.js';
import { hasTried, wasTried, type RandomSource } from './tried.js';

/** cumulative[i] = Σ weight of endpoints[0..i]; weight-0 endpoints add nothing so they are never hit. */
const cumulativeBySet = new WeakMap<EndpointSet, Float64Array>();

export function cumulativeWeights(set: EndpointSet): Float64Array {
  let cumulative = cumulativeBySet.get(set);
  if (cumulative === undefined) {
    cumulative = new Float64Array(set.endpoints.length);
    let sum = 0;
    set.endpoints.forEach((e, i) => {
      sum += Math.max(0, e.weight);
      cumulative![i] = sum;
    });
    cumulativeBySet.set(set, cumulative);
  }
  return cumulative;
}

/** Index of a weighted-random endpoint, or -1 when the set has no weight. */
export function weightedIndex(set: EndpointSet, random: RandomSource): number {
  const cumulative = cumulativeWeights(set);
  const total = cumulative.length === 0 ? 0 : cumulative[cumulative.length - 1]!;
  if (total <= 0) return -1;
  const target = random() * total;
  // First index whose cumulative weight exceeds target.
  let low = 0;
  let high = cumulative.length - 1;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (cumulative[mid]! > target) high = mid;
    else low = mid + 1;
  }
  return low;
}

/** A weighted draw over endpoints not yet tried; -1 when none is left. */
export function weightedUntriedIndex(set: EndpointSet, ctx: PickContext, random: RandomSource): number {
  const endpoints = set.endpoints;
  let total = 0;
  for (const e of endpoints) if (e.weight > 0 && !wasTried(e, ctx)) total += e.weight;
  if (total <= 0) return -1;
  let target = random() * total;
  let last = -1;
  for (let i = 0; i < endpoints.length; i++) {
    const e = endpoints[i]!;
    if (e.weight <= 0 || wasTried(e, ctx)) continue;
    last = i;
    target -= e.weight;
    if (target < 0) return i;
  }
  return last;
}

export class RandomBalancer implements Balancer {
  readonly name = 'random';
  readonly #random: RandomSource;

  constructor(random: RandomSource = Math.random) {
    this.#random = random;
  }

  pick(set: EndpointSet, ctx: PickContext): Endpoint | undefined {
    if (set.endpoints.length === 0) return undefined;
    if (hasTried(ctx)) {
      const index = weightedUntriedIndex(set, ctx, this.#random);
      if (index !== -1) return set.endpoints[index];
    }
    const index = weightedIndex(set, this.#random);
    return index === -1 ? undefined : set.endpoints[index];
  }
}

export function createRandom(options: { random?: RandomSource } = {}): RandomBalancer {
  return new RandomBalancer(options.random);
}
