/**
 * Least request, weighted power of two choices: draw two endpoints by weight and
 * keep the one with less in-flight work per unit of weight (ties keep the first
 * draw). Idle endpoints therefore share traffic by weight; busy ones shed it.
 * O(log n) per pick, no scan, and no herding onto one "least loaded" endpoint
 * that every proxy sees at once.
 */
import type { Balancer, PickContext } from './policy.js';
import type { Endpoint, EndpointSet } from '../endpoint.js';
import { weightedIndex, weightedUntriedIndex } from './random.js';
import { hasTried, type RandomSource } from './tried.js';

function load(endpoint: Endpoint): number {
  return endpoint.stats.inflight / endpoint.weight;
}

function pickTwoChoices(set: EndpointSet, ctx: PickContext, random: RandomSource): Endpoint | undefined {
  const endpoints = set.endpoints;
  if (endpoints.length === 0) return undefined;
  const retry = hasTried(ctx);
  let first = retry ? weightedUntriedIndex(set, ctx, random) : -1;
  let second = retry && first !== -1 ? weightedUntriedIndex(set, ctx, random) : -1;
  if (first === -1) {
    first = weightedIndex(set, random);
    if (first === -1) return undefined;
    second = weightedIndex(set, random);
  }
  const a = endpoints[first]!;
  const b = endpoints[second]!;
  return load(b) < load(a) ? b : a;
}

export class LeastRequestBalancer implements Balancer {
  readonly name: string = 'least-request';
  readonly #random: RandomSource;

  constructor(random: RandomSource = Math.random) {
    this.#random = random;
  }

  pick(set: EndpointSet, ctx: PickContext): Endpoint | undefined {
    return pickTwoChoices(set, ctx, this.#random);
  }
}

export function createLeastRequest(options: { random?: RandomSource } = {}): LeastRequestBalancer {
  return new LeastRequestBalancer(options.random);
}
