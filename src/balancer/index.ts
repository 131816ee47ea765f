/**
 * The policy registry: every balancer name (policy.ts HTTP_BALANCER_NAMES and
 * TCP_BALANCER_NAMES) maps to a factory here; the `satisfies` clause makes the
 * compiler reject a name without a policy, and test/unit/balancer/policies.test.ts
 * checks it at run time.
 */
import { createConsistentHash, type HashKeyOptions } from './consistent-hash.js';
import { createLeastConnections } from './least-connections.js';
import { createLeastRequest } from './least-request.js';
import type { Balancer, HttpBalancerName, TcpBalancerName } from './policy.js';
import { createRandom } from './random.js';
import { createRoundRobin } from './round-robin.js';
import { createSticky, type StickyBalancer, type StickyOptions } from './sticky.js';
import type { RandomSource } from './tried.js';

export type BalancerName = HttpBalancerName | TcpBalancerName;

export interface BalancerOptions {
  /** Uniform [0, 1) source for random-based policies and round-robin's starting points. @default Math.random */
  random?: RandomSource;
  /** consistent-hash: where the request key comes from. @default client IP */
  hashKey?: HashKeyOptions;
  /** Wrap the policy in cookie affinity (sticky.ts). */
  sticky?: StickyOptions;
}

export type BalancerFactory = (options: BalancerOptions) => Balancer;

export const policies = {
  'round-robin': (options) => createRoundRobin(options),
  random: (options) => createRandom(options),
  'least-request': (options) => createLeastRequest(options),
  'least-connections': (options) => createLeastConnections(options),
  'consistent-hash': (options) => createConsistentHash(options),
} as const satisfies Record<BalancerName, BalancerFactory>;

export function isBalancerName(name: string): name is BalancerName {
  return Object.hasOwn(policies, name);
}

/** A new balancer (each has its own per-set state), wrapped in sticky when asked. */
export function createBalancer(name: BalancerName, options: BalancerOptions = {}): Balancer | StickyBalancer {
  const factory: BalancerFactory | undefined = policies[name];
  if (factory === undefined) throw new TypeError(`unknown balancer "${name}"`);
  const balancer = factory(options);
  return options.sticky ? createSticky(balancer, options.sticky) : balancer;
}

export { StickyBalancer } from './sticky.js';
