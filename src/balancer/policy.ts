/**
 * The balancer seam: one small interface, one file per policy. The config schema
 * takes its enum values from the name lists here, and
 * test/unit/balancer/policies.test.ts checks that every name has a policy.
 */
import type { InstanceRecord } from '../types.js';

/** HTTP (and WebSocket) policies. */
export const HTTP_BALANCER_NAMES = ['round-robin', 'random', 'least-request', 'consistent-hash'] as const;
export type HttpBalancerName = (typeof HTTP_BALANCER_NAMES)[number];

/** TCP listener policies. */
export const TCP_BALANCER_NAMES = ['round-robin', 'random', 'least-connections', 'consistent-hash'] as const;
export type TcpBalancerName = (typeof TCP_BALANCER_NAMES)[number];

/**
 * Per-instance counters that outlive snapshot swaps: one object per `service/id`,
 * kept in a pool (health/state.ts) so a registry change never resets in-flight
 * counts or ejections. Forwarders mutate `inflight`; health code owns the rest.
 */
export interface EndpointStats {
  /** Requests (HTTP) or connections (TCP, WebSocket) currently open to this instance. */
  inflight: number;
}

/** One routable instance inside an immutable EndpointSet. */
export interface Endpoint {
  /** `service/id`, stable across snapshots. */
  readonly key: string;
  readonly instance: InstanceRecord;
  /** `host:port` (IPv6 hosts bracketed), precomputed for forwarders. */
  readonly address: string;
  /** Weight balancers use: the registered weight, reduced during slow start. */
  readonly weight: number;
  readonly stats: EndpointStats;
}

/**
 * The endpoints a balancer may choose from for one service at one moment: already
 * filtered by the eligibility rule (and widened to all instances in panic mode).
 * Frozen; rebuilt only when the service or an endpoint's health changes, so
 * balancers may cache per-set precomputation in a WeakMap keyed by the set.
 */
export interface EndpointSet {
  readonly service: string;
  readonly endpoints: readonly Endpoint[];
  /** Sum of `weight` over `endpoints`. */
  readonly totalWeight: number;
  /** true when fewer than `panicThreshold` were healthy and all instances are used. */
  readonly panic: boolean;
}

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

/** Forwarders report each attempt's outcome; passive health (outlier detection) listens. */
export interface OutcomeListener {
  onSuccess(endpoint: Endpoint): void;
  /** `reason` is a bounded UpstreamErrorReason or `status_5xx`. */
  onFailure(endpoint: Endpoint, reason: string): void;
}
