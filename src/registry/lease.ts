/**
 * Lease policy shared by every store: option defaults, generated ids, and the
 * pure self-preservation decision a sweep applies to the leases that fell due.
 * The Redis sweep script implements the same rule in Lua (redis-scripts.ts);
 * test/unit/lease.test.ts pins it down.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import type { SweepResult } from './store.js';

export interface StoreOptions {
  /** Lease for registrations that do not say. @default 30 */
  defaultTtlSeconds?: number;
  /** Hold a service's expiries when more than this share would expire in one sweep; 0 disables. @default 0.85 */
  selfPreservation?: number;
  /** Services with fewer instances never hold expiry. @default 3 */
  selfPreservationMinInstances?: number;
  /** @default 1000 */
  sweepIntervalMs?: number;
  /** Registering a new id beyond this rejects with `limit_exceeded`. @default 10000 */
  maxInstancesPerService?: number;
  /** Called with every result of the store's own periodic sweep. */
  onSweep?: (result: SweepResult) => void;
  /** @default silentLogger */
  logger?: Logger;
}

export type LeasePolicy = Required<Omit<StoreOptions, 'onSweep' | 'logger'>>;

export const DEFAULT_LEASE_POLICY: LeasePolicy = Object.freeze({
  defaultTtlSeconds: 30,
  selfPreservation: 0.85,
  selfPreservationMinInstances: 3,
  sweepIntervalMs: 1000,
  maxInstancesPerService: 10_000,
});

export function leasePolicy(options: StoreOptions): LeasePolicy {
  return {
    defaultTtlSeconds: options.defaultTtlSeconds ?? DEFAULT_LEASE_POLICY.defaultTtlSeconds,
    selfPreservation: options.selfPreservation ?? DEFAULT_LEASE_POLICY.selfPreservation,
    selfPreservationMinInstances: options.selfPreservationMinInstances ?? DEFAULT_LEASE_POLICY.selfPreservationMinInstances,
    sweepIntervalMs: options.sweepIntervalMs ?? DEFAULT_LEASE_POLICY.sweepIntervalMs,
    maxInstancesPerService: options.maxInstancesPerService ?? DEFAULT_LEASE_POLICY.maxInstancesPerService,
  };
}

/** `orders-7f3a09bc`: the service name plus 8 random hex digits. */
export function generateInstanceId(service: string): string {
  return `${service}-${randomBytes(4).toString('hex')}`;
}

/**
 * Self-preservation (DESIGN §2): when more than `fraction` of a service's
 * instances would expire in one sweep, the registry itself is the likelier
 * fault (heartbeats could not reach it), so nothing of that service expires.
 * Small services (fewer than `minInstances`) always expire normally.
 */
export function shouldHoldExpiry(wouldExpire: number, instances: number, fraction: number, minInstances: number): boolean {
  if (fraction <= 0 || wouldExpire === 0) return false;
  if (instances < minInstances) return false;
  return wouldExpire > fraction * instances;
}

/** The limit message both stores use, so callers see one wording. */
export function instanceLimitMessage(service: string, limit: number): string {
  return `service "${service}" already has ${limit} instances, the most registry.maxInstancesPerService allows`;
}
