/**
 * `split` (DESIGN §8), canary by tag: the route's eligible instances are split
 * into groups by tag — an instance joins the first group whose tags it all
 * carries; a group without tags takes the rest — and each request goes to one
 * group by weight, then to an instance of that group by the route's balancer.
 * A group without instances gives its share to the others in proportion to
 * their weights.
 *
 * Groups are computed once per EndpointSet (sets are frozen and rebuilt on every
 * registry or health change, so a re-registration with new tags moves an
 * instance at the next rebuild) and cached in a WeakMap that dies with the set:
 * a pick is one random number (or one hash / cookie lookup) plus the balancer.
 *
 * Stickiness: `sticky.cookie` pins a client to the group that served it (the
 * route's onResponse sets the cookie; it is honoured while that group has
 * instances and weight); `sticky.header` maps each value of a request header to
 * one group by hash (same value, same group, as long as the weights stay).
 */
import type { Balancer, PickContext } from '../balancer/policy.js';
import { hash32 } from '../balancer/hash.js';
import type { RandomSource } from '../balancer/tried.js';
import type { SplitConfig } from '../config/policy-schema.js';
import type { Endpoint, EndpointSet } from '../endpoint.js';

interface Group {
  /** Every one of these tags; empty = the instances no earlier group takes. */
  readonly tags: readonly string[];
  readonly weight: number;
  /** The cookie value naming this group. */
  readonly token: string;
  /** The Set-Cookie value pinning a client here (undefined without `sticky.cookie`). */
  readonly setCookie: string | undefined;
}

/** One EndpointSet split into the groups (in config order). */
interface Partition {
  readonly sets: readonly EndpointSet[];
  /** Cumulative weights over the groups that have instances (an empty group adds 0). */
  readonly cumulative: Float64Array;
  readonly total: number;
}

const NO_ENDPOINTS: readonly Endpoint[] = Object.freeze([]);

export class SplitPicker {
  readonly #groups: readonly Group[];
  readonly #random: RandomSource;
  readonly #cookie: string | undefined;
  readonly #header: string | undefined;
  readonly #byToken = new Map<string, number>();
  readonly #partitions = new WeakMap<EndpointSet, Partition>();
  /** The group index of every endpoint of every partitioned set (retries and cookies look it up). */
  readonly #groupOf = new WeakMap<Endpoint, number>();

  constructor(config: SplitConfig, random: RandomSource = Math.random) {
    const groups = Array.isArray(config) ? config : config.groups;
    const sticky = Array.isArray(config) ? undefined : config.sticky;
    this.#random = random;
    this.#cookie = sticky?.cookie;
    this.#header = sticky?.header;
    this.#groups = groups.map((group, index) => {
      const tags = group.tags ?? [];
      const token = groupToken(tags);
      if (!this.#byToken.has(token)) this.#byToken.set(token, index);
      const setCookie = this.#cookie === undefined ? undefined : `${this.#cookie}=${token}; Path=/; HttpOnly; SameSite=Lax`;
      return { tags, weight: group.weight, token, setCookie };
    });
  }

  /** true when responses pin clients with a cookie (the route then calls onResponse). */
  get setsCookie(): boolean {
    return this.#cookie !== undefined;
  }

  /** The group's cookie value, for tests and docs: `v2`, `v2+eu`, or `*` for the untagged group. */
  tokenOf(groupIndex: number): string {
    return this.#groups[groupIndex]!.token;
  }

  /**
   * An instance of `set` chosen by group, then by `balancer` inside the group. A retry stays in
   * the first attempt's group while it has an untried instance, then falls back to the whole set.
   */
  pick(set: EndpointSet, ctx: PickContext, balancer: Balancer): Endpoint | undefined {
    const partition = this.#partition(set);
    // No group with both instances and weight: serve from every instance rather than refuse.
    if (partition.total <= 0) return balancer.pick(set, ctx);
    const tried = ctx.tried;
    if (tried !== undefined && tried.length > 0) return this.#retry(partition, set, ctx, balancer, tried);
    return balancer.pick(partition.sets[this.#choose(partition, ctx)]!, ctx);
  }

  /** The group that served `endpoint`, or undefined when it came from outside every group (a fallback). */
  groupOf(endpoint: Endpoint): number | undefined {
    return this.#groupOf.get(endpoint);
  }

  /** RouteMatch.onResponse with `sticky.cookie`: pin the client to the group that served it. */
  onResponse(endpoint: Endpoint, setHeader: (name: string, value: string) => void): void {
    const group = this.#groupOf.get(endpoint);
    const cookie = group === undefined ? undefined : this.#groups[group]!.setCookie;
    if (cookie !== undefined) setHeader('set-cookie', cookie);
  }

  #choose(partition: Partition, ctx: PickContext): number {
    if (this.#cookie !== undefined) {
      const token = ctx.cookie(this.#cookie);
      const pinned = token === undefined ? undefined : this.#byToken.get(token);
      if (pinned !== undefined && this.#groups[pinned]!.weight > 0 && partition.sets[pinned]!.endpoints.length > 0) return pinned;
    }
    if (this.#header !== undefined) {
      const value = ctx.header(this.#header);
      // hash32 / 2^32 is uniform in [0, 1): each value lands on one group, in proportion to the weights.
      if (value !== undefined) return groupAt(partition, (hash32(value) / 0x1_0000_0000) * partition.total);
    }
    return groupAt(partition, this.#random() * partition.total);
  }

  #retry(partition: Partition, set: EndpointSet, ctx: PickContext, balancer: Balancer, tried: readonly Endpoint[]): Endpoint | undefined {
    const group = this.#groupOf.get(tried[0]!);
    if (group !== undefined) {
      const inGroup = partition.sets[group]!;
      if (inGroup.endpoints.length > 0) {
        const endpoint = balancer.pick(inGroup, ctx);
        if (endpoint !== undefined && !tried.some((e) => e.key === endpoint.key)) return endpoint;
      }
    }
    // The group is used up: any untried instance of the other groups (the balancer skips tried ones).
    return balancer.pick(set, ctx);
  }

  /** The set's groups, computed once per set: O(instances × groups), never per request. */
  #partition(set: EndpointSet): Partition {
    let partition = this.#partitions.get(set);
    if (partition !== undefined) return partition;
    const groups = this.#groups;
    const members: Endpoint[][] = groups.map(() => []);
    for (const endpoint of set.endpoints) {
      const index = groups.findIndex((group) => group.tags.every((tag) => endpoint.instance.tags.includes(tag)));
      if (index === -1) continue;
      members[index]!.push(endpoint);
      this.#groupOf.set(endpoint, index);
    }
    const cumulative = new Float64Array(groups.length);
    let total = 0;
    const sets = members.map((endpoints, i) => {
      if (endpoints.length > 0) total += groups[i]!.weight;
      cumulative[i] = total;
      return subset(set, endpoints);
    });
    partition = { sets, cumulative, total };
    this.#partitions.set(set, partition);
    return partition;
  }
}

/** The group whose cumulative range holds `point` (0 ≤ point < total); groups are few, so a linear scan. */
function groupAt(partition: Partition, point: number): number {
  const cumulative = partition.cumulative;
  for (let i = 0; i < cumulative.length; i++) if (point < cumulative[i]!) return i;
  // Rounding at the top end: the last group with weight.
  for (let i = cumulative.length - 1; i > 0; i--) if (cumulative[i]! > cumulative[i - 1]!) return i;
  return 0;
}

/** A group's instances as an EndpointSet of its own, so the balancer's per-set caches work unchanged. */
function subset(set: EndpointSet, endpoints: Endpoint[]): EndpointSet {
  let totalWeight = 0;
  for (const e of endpoints) totalWeight += e.weight;
  return Object.freeze({
    service: set.service,
    endpoints: endpoints.length === 0 ? NO_ENDPOINTS : Object.freeze(endpoints),
    totalWeight,
    panic: set.panic,
  });
}

/** A cookie-safe name of a group: its tags joined by `+` (percent-encoded), or `*` for the untagged group. */
function groupToken(tags: readonly string[]): string {
  return tags.length === 0 ? '*' : tags.map((tag) => encodeURIComponent(tag)).join('+');
}

export function buildSplit(config: SplitConfig, random?: RandomSource): SplitPicker {
  return new SplitPicker(config, random);
}
