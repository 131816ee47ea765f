/**
 * The registry seam. Its implementations share one contract suite
 * (test/contract/store.contract.ts): `memory` (embedded, one process), `redis`
 * (shared by any number of proxies) and a cluster worker's read-only view of its
 * primary's store (workers/ipc-store.ts).
 *
 * Invariants every store keeps:
 * - Every change (register, update, status, deregister, expire) gets the next
 *   revision of one registry-wide, strictly increasing counter, and appears in the
 *   change feed in revision order. Plain renewals are not changes; a renewal that
 *   carries a different weight is an `update`.
 * - Lease expiry is judged by the registry's clock (the Redis server's `TIME`),
 *   never by a caller's clock, and each expiry is emitted exactly once even when
 *   several processes sweep.
 * - API routes share the revision counter and the feed with instances (`route-set`,
 *   `route-delete`), so one subscription follows both in one order.
 * - Routes declared by instances (`InstanceRecord.routes`) are owned by one service at a
 *   time: a registration declaring a host+path another service declares rejects with
 *   `WaypostError(route_conflict)` naming the owner, atomically with the write.
 * - A write that the backend did not acknowledge rejects with
 *   `WaypostError(registry_unavailable)`; nothing is half-stored.
 */
import type { InstanceRecord, InstanceStatus, RegistrationInput } from '../types.js';
import type { RouteBody } from './routes.js';

/** Changes to instances, then changes to API routes (`PUT`/`DELETE /v1/routes/{id}`). */
export type ChangeType = 'register' | 'update' | 'status' | 'deregister' | 'expire' | RouteChangeType;
export type RouteChangeType = 'route-set' | 'route-delete';

export interface ChangeEvent {
  readonly revision: number;
  readonly type: ChangeType;
  /** The instance's service; "" for route events. */
  readonly service: string;
  /** The instance id, or the route id for route events. */
  readonly id: string;
  /** The record after the change; absent for `deregister`, `expire` and route events. */
  readonly instance?: InstanceRecord;
  /** `route-set` only: the route after the change. */
  readonly route?: StoredRoute;
  /** Registry-clock milliseconds of the write (propagation latency is measured from it). */
  readonly at: number;
}

/** Route events carry no instance and must not be applied to a service. */
export function isRouteEvent(event: ChangeEvent): boolean {
  return event.type === 'route-set' || event.type === 'route-delete';
}

/** A route stored through the admin API: the body as given (validated with the config route schema). */
export interface StoredRoute {
  readonly id: string;
  readonly route: RouteBody;
  /** Registry revision of its last change. */
  readonly revision: number;
}

export interface PutRouteResult {
  readonly route: StoredRoute;
  /** false when a route with this id already existed (updated, or unchanged). */
  readonly created: boolean;
}

export interface ServiceState {
  readonly name: string;
  /** Revision of the last change to this service (0 if none is known). */
  readonly revision: number;
  /** Sorted by id. */
  readonly instances: readonly InstanceRecord[];
}

/** A full, consistent dump of the registry at one revision (used for resync). */
export interface RegistryState {
  readonly revision: number;
  readonly services: readonly ServiceState[];
  /** API routes, sorted by id. */
  readonly routes: readonly StoredRoute[];
}

export interface ServiceCount {
  readonly name: string;
  readonly instances: number;
}

export interface RegisterResult {
  readonly record: InstanceRecord;
  /** false when an instance with this id already existed and was updated. */
  readonly created: boolean;
}

export interface SweepResult {
  readonly expired: number;
  /** Services whose expiry was held by self-preservation in this sweep. */
  readonly held: readonly { readonly service: string; readonly wouldExpire: number; readonly instances: number }[];
}

export interface FeedHandlers {
  /** Events with revisions above the subscription's start, in order, without gaps. */
  onEvents(events: readonly ChangeEvent[]): void;
  /**
   * The store cannot prove the subscriber saw every change (reconnect, trimmed
   * feed, revision gap). The subscriber must reload `state()` and call
   * `subscription.resume(revision)` with the revision it loaded.
   */
  onReset(reason: string): void;
  /** Backend connection state, for `waypost_registry_connected` and logs. */
  onConnectionChange?(connected: boolean): void;
}

export interface FeedSubscription {
  /** Continue delivery after the given revision (after a resync). */
  resume(fromRevision: number): void;
  close(): void;
}

export interface RegistryStore {
  readonly kind: 'memory' | 'redis';
  /** true while the backend is reachable (always true for memory). */
  readonly connected: boolean;
  /**
   * Registry clock minus this process's clock (ms, estimated), to compare `ChangeEvent.at`
   * with local time without the skew between hosts. Absent: the registry runs on this clock.
   */
  readonly clockOffsetMs?: number;

  /** Connects and starts the lease sweeper. Rejects when the backend is unreachable. */
  start(): Promise<void>;
  /** Stops the sweeper and closes connections; idempotent. */
  close(): Promise<void>;

  /** Create, or update by id. Generates an id when none is given. Starts a fresh lease. */
  register(input: RegistrationInput): Promise<RegisterResult>;
  /** Renew the lease; `undefined` when unknown or already expired (the client must register again). */
  renew(service: string, id: string, options?: { weight?: number }): Promise<InstanceRecord | undefined>;
  /** `undefined` when unknown. Changing to the same status is not a change event. */
  setStatus(service: string, id: string, status: InstanceStatus): Promise<InstanceRecord | undefined>;
  /** false when unknown. */
  deregister(service: string, id: string): Promise<boolean>;

  listServices(): Promise<ServiceCount[]>;
  /** `instances` is empty for an unknown service. */
  getService(service: string): Promise<ServiceState>;
  state(): Promise<RegistryState>;

  /**
   * Create or replace the API route `id` (an unchanged body is not a change event). The
   * body must already be validated (registry/routes.ts parseRouteBody).
   */
  putRoute(id: string, route: RouteBody): Promise<PutRouteResult>;
  /** `undefined` when unknown. */
  getRoute(id: string): Promise<StoredRoute | undefined>;
  /** Sorted by id. */
  listRoutes(): Promise<StoredRoute[]>;
  /** false when unknown. */
  deleteRoute(id: string): Promise<boolean>;

  /** Deliver every change after `fromRevision`; see FeedHandlers for the resync protocol. */
  subscribe(fromRevision: number, handlers: FeedHandlers): FeedSubscription;

  /** Expire due leases once (stores also run this on their own interval). */
  sweep(): Promise<SweepResult>;
}
