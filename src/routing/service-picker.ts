/**
 * Instances of a registered service picked outside any route: what forward-auth
 * (policy/forward-auth.ts, `auth.service`) asks its auth service through. Each
 * service gets one ServiceRoute — the global balancer over the service's
 * eligible set, so it is balanced and health-checked like any route's — made on
 * first use and kept (the names come from the configuration, so they are few).
 * A config reload with another global balancer or timeouts drops them (reconfigure):
 * the next check picks with the new balancer, as a route without its own would.
 */
import { createBalancer } from '../balancer/index.js';
import type { HttpBalancerName } from '../balancer/policy.js';
import type { Endpoint } from '../endpoint.js';
import type { AuthTargets } from '../policy/forward-auth.js';
import type { PolicyRequest } from '../policy/step.js';
import { createPickContext } from './pick-context.js';
import type { RouteTimeouts } from './route.js';
import { ServiceRoute, type EndpointSetSource, type ServiceSource } from './service-route.js';

export interface ServicePickerOptions {
  services: ServiceSource;
  endpointSets: EndpointSetSource;
  balancer: HttpBalancerName;
  /** Not used to pick; a ServiceRoute carries them. */
  timeouts: RouteTimeouts;
}

export class ServicePicker implements AuthTargets {
  readonly #routes = new Map<string, ServiceRoute>();
  #options: ServicePickerOptions;

  constructor(options: ServicePickerOptions) {
    this.#options = options;
  }

  pick(service: string, request: PolicyRequest, tried: readonly Endpoint[]): Endpoint | undefined {
    const ctx = createPickContext(request.req, request.clientIp);
    for (const endpoint of tried) ctx.addTried(endpoint);
    return this.#route(service).pick(ctx);
  }

  /**
   * A reload's global `balancer` and `timeouts`. Unchanged: the routes and their balancer state
   * (round-robin position, ring) stay; changed: they are rebuilt on their next check.
   */
  reconfigure(balancer: HttpBalancerName, timeouts: RouteTimeouts): void {
    const current = this.#options;
    const was = current.timeouts;
    if (current.balancer === balancer && was.connect === timeouts.connect && was.header === timeouts.header && was.idle === timeouts.idle) return;
    this.#options = { ...current, balancer, timeouts };
    this.#routes.clear();
  }

  #route(service: string): ServiceRoute {
    let route = this.#routes.get(service);
    if (route === undefined) {
      const { services, endpointSets, balancer, timeouts } = this.#options;
      route = new ServiceRoute(service, createBalancer(balancer), 0, timeouts, services, endpointSets);
      this.#routes.set(service, route);
    }
    return route;
  }
}
