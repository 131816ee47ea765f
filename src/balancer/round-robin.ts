/**
 * Smooth weighted round-robin (nginx): each pick adds every endpoint's weight to
 * its `current`, takes the largest, and subtracts the total from the winner.
 * Weights 5,1,1 give a a b a c a a — heavy endpoints are interleaved, not bursty.
 *
 * The sequence is periodic with period Σw/gcd(w); when that period is short it is
 * computed once per set, so a pick is O(1) (an index bump). Larger sets, and
 * retries that must skip tried endpoints, run the O(n) nginx step directly.
 * State lives per EndpointSet in a WeakMap and dies with the set.
 *
 * A set is rebuilt on every health change and slow-start step. Restarting the
 * rotation then would send every proxy's next request to the same first endpoint
 * (they all see the change together), so a new set takes over the previous set's
 * state for the same service: each endpoint keeps its nginx `current` by key, and
 * an unchanged layout keeps its schedule position. What cannot be carried starts
 * at a random point (a random schedule offset; a random phase in [-W, 0) for a new
 * endpoint), which also spreads proxies that start together.
 */
import type { Balancer, PickContext } from './policy.js';
import type { Endpoint, EndpointSet } from '../endpoint.js';
import { hasTried, wasTried, type RandomSource } from './tried.js';

/** Largest n × period for which the sequence is precomputed. */
const MAX_SCHEDULE_WORK = 1 << 16;

interface RoundRobinState {
  readonly set: EndpointSet;
  /** Endpoint indexes in pick order, or undefined when the period is too long. */
  readonly schedule: Uint32Array | undefined;
  position: number;
  /** nginx `current_weight` per endpoint, for the direct path. */
  readonly current: Float64Array;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function buildSchedule(endpoints: readonly Endpoint[]): Uint32Array | undefined {
  let divisor = 0;
  let total = 0;
  for (const e of endpoints) {
    if (e.weight <= 0) continue;
    if (!Number.isInteger(e.weight)) return undefined;
    divisor = gcd(e.weight, divisor);
    total += e.weight;
  }
  if (total === 0) return undefined;
  const period = total / divisor;
  if (period * endpoints.length > MAX_SCHEDULE_WORK) return undefined;
  const current = new Float64Array(endpoints.length);
  const schedule = new Uint32Array(period);
  for (let step = 0; step < period; step++) {
    const best = smoothStep(endpoints, current, undefined);
    schedule[step] = best;
  }
  return schedule;
}

/** One nginx step over endpoints not excluded by `ctx.tried`; -1 when none qualifies. */
function smoothStep(endpoints: readonly Endpoint[], current: Float64Array, ctx: PickContext | undefined): number {
  let best = -1;
  let total = 0;
  for (let i = 0; i < endpoints.length; i++) {
    const e = endpoints[i]!;
    if (e.weight <= 0 || (ctx !== undefined && wasTried(e, ctx))) continue;
    current[i]! += e.weight;
    total += e.weight;
    if (best === -1 || current[i]! > current[best]!) best = i;
  }
  if (best !== -1) current[best]! -= total;
  return best;
}

export interface RoundRobinOptions {
  /** Where a rotation starts when it cannot continue an earlier one. @default Math.random */
  random?: RandomSource;
}

export class RoundRobinBalancer implements Balancer {
  readonly name = 'round-robin';
  readonly #random: RandomSource;
  readonly #states = new WeakMap<EndpointSet, RoundRobinState>();
  /**
   * Each service's newest state, for the set that replaces it. Weak so a removed service's last
   * set can be collected; should the old set be gone already, the new one starts at a random
   * point, which still avoids the herd.
   */
  readonly #latest = new Map<string, WeakRef<RoundRobinState>>();

  constructor(options: RoundRobinOptions = {}) {
    this.#random = options.random ?? Math.random;
  }

  pick(set: EndpointSet, ctx: PickContext): Endpoint | undefined {
    const endpoints = set.endpoints;
    if (endpoints.length === 0) return undefined;
    const state = this.#state(set);
    if (hasTried(ctx)) {
      const index = smoothStep(endpoints, state.current, ctx);
      if (index !== -1) return endpoints[index];
      // Every endpoint was tried: fall through and pick as if fresh.
    }
    if (state.schedule !== undefined) {
      const index = state.schedule[state.position]!;
      state.position = state.position + 1 === state.schedule.length ? 0 : state.position + 1;
      return endpoints[index];
    }
    const index = smoothStep(endpoints, state.current, undefined);
    return index === -1 ? undefined : endpoints[index];
  }

  #state(set: EndpointSet): RoundRobinState {
    let state = this.#states.get(set);
    if (state === undefined) {
      state = this.#successor(set, this.#latest.get(set.service)?.deref());
      this.#states.set(set, state);
      this.#latest.set(set.service, new WeakRef(state));
    }
    return state;
  }

  /** The state of a new set, continuing `previous` (the service's last set) where it can. O(n), once per set. */
  #successor(set: EndpointSet, previous: RoundRobinState | undefined): RoundRobinState {
    const endpoints = set.endpoints;
    if (previous !== undefined && sameLayout(previous.set.endpoints, endpoints)) {
      return { set, schedule: previous.schedule, position: previous.position, current: previous.current.slice() };
    }
    const current = new Float64Array(endpoints.length);
    const before = previous === undefined ? undefined : indexByKey(previous.set.endpoints);
    let total = 0;
    for (const e of endpoints) if (e.weight > 0) total += e.weight;
    for (let i = 0; i < endpoints.length; i++) {
      const j = before?.get(endpoints[i]!.key);
      current[i] = j !== undefined ? previous!.current[j]! : -this.#random() * total;
    }
    const schedule = buildSchedule(endpoints);
    const position = schedule === undefined ? 0 : Math.floor(this.#random() * schedule.length) % schedule.length;
    return { set, schedule, position, current };
  }
}

/** Same endpoints (by key) with the same weights in the same order: the old schedule still applies. */
function sameLayout(a: readonly Endpoint[], b: readonly Endpoint[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i]!.key !== b[i]!.key || a[i]!.weight !== b[i]!.weight) return false;
  return true;
}

function indexByKey(endpoints: readonly Endpoint[]): Map<string, number> {
  const index = new Map<string, number>();
  for (let i = 0; i < endpoints.length; i++) index.set(endpoints[i]!.key, i);
  return index;
}

export function createRoundRobin(options: RoundRobinOptions = {}): RoundRobinBalancer {
  return new RoundRobinBalancer(options);
}
