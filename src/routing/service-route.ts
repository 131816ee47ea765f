/**
 * ServiceRoute: one service with the policy that picks its instances — the
 * balancer, the retry budget and the timeouts — built once from the
 * configuration. HTTP routes extend it with their match conditions
 * (table.ts); a TCP listener builds one per service it can reach (its own and
 * each SNI route's). Every forwarder picks through one of these.
 */
import type { Balancer, PickContext } from '../balancer/policy.js';
import type { Endpoint, EndpointSet } from '../endpoint.js';
import type { ServiceState } from '../registry/store.js';
import type { RouteTimeouts } from './route.js';

/** Where routes read the current state of a service (the registry mirror). */
export interface ServiceSource {
  get(name: string): ServiceState | undefined;
}

/** Where routes get the eligible endpoints of a service (health/endpoint-sets.ts). */
export interface EndpointSetSource {
  forService(state: ServiceState): EndpointSet;
}

/** `Timeouts`: RouteTimeouts for HTTP; a TCP listener has no header timeout. */
export class ServiceRoute<Timeouts = RouteTimeouts> {
  constructor(
    readonly service: string,
    readonly balancer: Balancer,
    /** Further attempts allowed after the first. */
    readonly retries: number,
    readonly timeouts: Timeouts,
    readonly services: ServiceSource,
    readonly endpointSets: EndpointSetSource,
  ) {}

  /**
   * An instance from the service's current eligible set, or undefined when it has
   * none (or the registry does not know the service). Reads only the in-memory snapshot.
   */
  pick(ctx: PickContext): Endpoint | undefined {
    const set = this.eligibleSet();
    return set === undefined ? undefined : this.balancer.pick(set, ctx);
  }

  /** The service's current eligible set; undefined when it has no instance (or the registry does not know it). */
  eligibleSet(): EndpointSet | undefined {
    const state = this.services.get(this.service);
    if (state === undefined) return undefined;
    const set = this.endpointSets.forService(state);
    return set.endpoints.length === 0 ? undefined : set;
  }
}
