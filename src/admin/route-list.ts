/**
 * The route table as the dashboard shows it: every route with where it comes from, in
 * precedence order on equal matches: config file, admin API, declared by services (the
 * LiveRouter's listing), then the host convention.
 */
import type { RouteConfig, WaypostConfig } from '../config/schema.js';
import type { RouteListing } from '../routing/live-router.js';

export interface RouteView {
  readonly id: string;
  /** `config`, `api`, `declared` or `convention`. */
  readonly source: string;
  /** `declared` only: the service whose instances declare it. */
  readonly declaredBy?: string;
  /** null = any host. */
  readonly host: string | null;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** null = the service named by the host (the convention). */
  readonly service: string | null;
  readonly stripPrefix: boolean;
}

/** The listed routes (config, API, declared) and one convention route per domain. */
export function routeViews(listing: RouteListing, domains: WaypostConfig['domains']): RouteView[] {
  const routes = listing.routes.map(({ id, source, declaredBy, route }): RouteView => {
    // Listed bodies passed the config route schema; absent keys take its defaults.
    const r = route as Partial<RouteConfig>;
    const view = { id, source, host: r.host ?? null, path: r.path ?? '/', headers: r.headers ?? {}, service: r.service ?? null, stripPrefix: r.stripPrefix ?? false };
    return declaredBy === undefined ? view : { ...view, declaredBy };
  });
  for (const domain of domains) {
    routes.push({ id: 'convention', source: 'convention', host: `{service}.${domain}`, path: '/', headers: {}, service: null, stripPrefix: false });
  }
  return routes;
}
