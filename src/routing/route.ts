/**
 * What the router hands the forwarders: everything needed to serve one request,
 * resolved once per request from immutable tables.
 */
import type { PickContext } from '../balancer/policy.js';
import type { Endpoint } from '../endpoint.js';
import type { RoutePolicy } from '../policy/chain.js';

export interface RouteTimeouts {
  readonly connect: number;
  readonly header: number;
  readonly idle: number;
}

export interface RouteMatch {
  /** Stable label for logs: the config route index (`route[2]`) or `convention`. */
  readonly routeId: string;
  readonly service: string;
  /** Path (with query) to send upstream, after prefix stripping (and the `rewrite` policy step). */
  upstreamPath: string;
  /** The route's policy chain (DESIGN §8); undefined when the route has none. */
  readonly policy?: RoutePolicy | undefined;
  readonly retries: number;
  readonly timeouts: RouteTimeouts;
  /**
   * Pick an instance with the route's balancer from the service's current
   * eligible set. undefined when the service has no available instance (→ 503).
   * Never touches Redis; reads only the in-memory snapshot.
   */
  pick(ctx: PickContext): Endpoint | undefined;
  /** Called with the chosen endpoint when a response is about to be sent (sticky cookies). */
  onResponse?(endpoint: Endpoint, setHeader: (name: string, value: string) => void): void;
}

export interface Router {
  /** undefined = no route (→ 404). `host` is the Host header without port, lower-cased. */
  match(host: string, path: string, header: (name: string) => string | undefined): RouteMatch | undefined;
}
