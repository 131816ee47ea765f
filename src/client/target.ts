/**
 * The one seam every registering component writes through. Two implementations:
 * the admin HTTP API (`RegistryClient`) and a `RegistryStore` used directly
 * (`StoreTarget`, for `--redis`). Failures are `WaypostError`s; a registry that
 * cannot be reached is `registry_unavailable`, which callers retry.
 */
import { ErrorCodes, isWaypostError } from '../errors.js';
import type { InstanceRecord, InstanceStatus, RegistrationInput } from '../types.js';

/** One service as a registration target reports it. */
export interface TargetService {
  readonly name: string;
  /** Revision of the service's last change (0 when unknown). */
  readonly revision: number;
  readonly instances: readonly InstanceRecord[];
}

export interface RegistrationTarget {
  /** Create, or update by id; starts a fresh lease. */
  registerInstance(input: RegistrationInput): Promise<InstanceRecord>;
  /** Renew the lease; `undefined` when the registry no longer knows the instance (register again). */
  renew(service: string, id: string): Promise<InstanceRecord | undefined>;
  /** `undefined` when the instance is unknown. */
  setStatus(service: string, id: string, status: InstanceStatus): Promise<InstanceRecord | undefined>;
  /** false when the instance was unknown. */
  deregister(service: string, id: string): Promise<boolean>;
  /** Names of services that have instances. */
  listServiceNames(): Promise<string[]>;
  /** Empty `instances` for an unknown service. */
  getService(service: string): Promise<TargetService>;
  /** Releases connections; idempotent. */
  close(): Promise<void>;
}

/**
 * Whether retrying the same call later can succeed: the registry was away or
 * busy. Bad input, auth and conflicts will fail the same way again.
 */
export function isRetryable(err: unknown): boolean {
  if (!isWaypostError(err)) return true;
  return (
    err.code === ErrorCodes.REGISTRY_UNAVAILABLE ||
    err.code === ErrorCodes.CLOSED ||
    err.code === ErrorCodes.LIMIT_EXCEEDED ||
    err.code === ErrorCodes.STARTUP
  );
}
