/**
 * A tiny static Router for proxy tests (a fixture, not production code): exact
 * host + path prefix → a fixed list of endpoints, round-robin that skips
 * endpoints already tried for the request.
 */
import type { PickContext } from '../../src/balancer/policy.js';
import type { Endpoint } from '../../src/endpoint.js';
import type { RouteMatch, RouteTimeouts, Router } from '../../src/routing/route.js';
import { record } from './endpoints.js';

export interface StaticRoute {
  host: string;
  /** Path prefix; default `/`. */
  path?: string;
  service: string;
  /** `host:port` of each instance (IPv4). */
  targets: string[];
  retries?: number;
  timeouts?: Partial<RouteTimeouts>;
}

const DEFAULT_TIMEOUTS: RouteTimeouts = { connect: 2_000, header: 30_000, idle: 60_000 };

export function endpointFor(service: string, address: string, index: number): Endpoint {
  const [host = '', port = '0'] = address.split(':');
  const instance = record(service, `${service}-${index}`, { host, port: Number(port) });
  return { key: `${service}/${instance.id}`, instance, address, weight: 100, stats: { inflight: 0 } };
}

export class StaticRouter implements Router {
  readonly routes: { route: StaticRoute; endpoints: Endpoint[]; next: number }[];

  constructor(routes: StaticRoute[]) {
    this.routes = routes.map((route) => ({
      route,
      endpoints: route.targets.map((address, i) => endpointFor(route.service, address, i)),
      next: 0,
    }));
  }

  endpoints(service: string): Endpoint[] {
    return this.routes.find((r) => r.route.service === service)?.endpoints ?? [];
  }

  match(host: string, path: string): RouteMatch | undefined {
    const entry = this.routes.find((r) => r.route.host === host && path.startsWith(r.route.path ?? '/'));
    if (!entry) return undefined;
    const { route } = entry;
    return {
      routeId: `static:${route.service}`,
      service: route.service,
      upstreamPath: path,
      retries: route.retries ?? 2,
      timeouts: { ...DEFAULT_TIMEOUTS, ...route.timeouts },
      pick(ctx: PickContext): Endpoint | undefined {
        const { endpoints } = entry;
        for (let i = 0; i < endpoints.length; i++) {
          const candidate = endpoints[entry.next++ % endpoints.length]!;
          if (!ctx.tried?.includes(candidate)) return candidate;
        }
        return undefined;
      },
    };
  }
}
