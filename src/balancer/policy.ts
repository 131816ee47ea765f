/**
 * The balancer seam: one small interface, one file per policy. The endpoint
 * types it picks from live in src/endpoint.ts (health and forwarders share them). The config schema
 * takes its enum values from the name lists here, and
 * test/unit/balancer/policies.test.ts checks that every name has a policy.
 */
import type { Endpoint, EndpointSet } from '../endpoint.js';

/** HTTP (and WebSocket) policies. */
export const HTTP_BALANCER_NAMES = ['round-robin', 'random', 'least-request', 'consistent-hash'] as const;
export type HttpBalancerName = (typeof HTTP_BALANCER_NAMES)[number];

/** TCP listener policies. */
export const TCP_BALANCER_NAMES = ['round-robin', 'random', 'least-connections', 'consistent-hash'] as const;
export type TcpBalancerName = (typeof TCP_BALANCER_NAMES)[number];

/** What a policy may read about the request. Built once per request, lazily. */
export interface PickContext {
  /** Client address (after trusted-proxy handling). */
  readonly clientIp: string;
  header(name: string): string | undefined;
  cookie(name: string): string | undefined;
  /** Endpoints already tried for this request (retries go elsewhere when possible). */
  readonly tried?: readonly Endpoint[];
}

/** A load-balancing policy: pick one endpoint, or undefined when none is available. */
export interface Balancer {
  readonly name: string;
  pick(set: EndpointSet, ctx: PickContext): Endpoint | undefined;
}
