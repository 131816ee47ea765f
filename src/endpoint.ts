/**
 * The endpoint types every layer shares: the registry mirror's instances as the
 * balancers pick them, the per-instance counters health code owns, and the
 * outcome hook forwarders report to. A leaf module, so balancer, health and proxy
 * can all import it without importing each other.
 */
import type { InstanceRecord } from './types.js';

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

/** Forwarders report each attempt's outcome; passive health (outlier detection) listens. */
export interface OutcomeListener {
  onSuccess(endpoint: Endpoint): void;
  /** `reason` is a bounded UpstreamErrorReason or `status_5xx`. */
  onFailure(endpoint: Endpoint, reason: string): void;
}
