/**
 * The routes of one TCP listener, built once from its configuration: one
 * ServiceRoute for the listener's own service and one per service its
 * `sniRoutes` name, all sharing the listener's balancer, retries and timeouts.
 * A connection's TLS server name picks among them: the exact name, then the
 * longest `*.suffix`, else the listener's own service.
 */
import { createBalancer, type BalancerOptions } from '../balancer/index.js';
import type { TcpListenerConfig } from '../config/schema.js';
import { ServiceRoute, type EndpointSetSource, type ServiceSource } from './service-route.js';

export type TcpTimeouts = TcpListenerConfig['timeouts'];
export type TcpRoute = ServiceRoute<TcpTimeouts>;

export class TcpRoutes {
  /** The listener's own service: without `sniRoutes`, every connection's route. */
  readonly default: TcpRoute;
  readonly #exact = new Map<string, TcpRoute>();
  /** Key: the suffix with its leading dot (`.example.com` for `*.example.com`). */
  readonly #wildcard = new Map<string, TcpRoute>();

  constructor(
    listener: TcpListenerConfig,
    services: ServiceSource,
    endpointSets: EndpointSetSource,
    balancerOptions: Pick<BalancerOptions, 'random'> = {},
  ) {
    // Every TCP policy keys on the client IP (the only request attribute TCP has).
    const balancer = createBalancer(listener.balancer, { ...balancerOptions, hashKey: { clientIp: true } });
    const byService = new Map<string, TcpRoute>();
    const routeFor = (service: string): TcpRoute => {
      let route = byService.get(service);
      if (route === undefined) {
        route = new ServiceRoute(service, balancer, listener.retries, listener.timeouts, services, endpointSets);
        byService.set(service, route);
      }
      return route;
    };
    this.default = routeFor(listener.service);
    for (const [name, service] of Object.entries(listener.sniRoutes ?? {})) {
      const host = name.toLowerCase();
      if (host.startsWith('*.')) this.#wildcard.set(host.slice(1), routeFor(service));
      else this.#exact.set(host, routeFor(service));
    }
  }

  /** The route for a TLS server name (lower case); undefined or unknown → the listener's own. */
  forServerName(name: string | undefined): TcpRoute {
    if (name === undefined) return this.default;
    const exact = this.#exact.get(name);
    if (exact !== undefined) return exact;
    for (let dot = name.indexOf('.'); dot !== -1; dot = name.indexOf('.', dot + 1)) {
      const wildcard = this.#wildcard.get(name.slice(dot));
      if (wildcard !== undefined) return wildcard;
    }
    return this.default;
  }
}
