/**
 * The route table as the dashboard shows it: every route with where it comes from.
 * Config routes and the host convention are listed here; other sources (routes declared
 * by instances, the routes API) add their own lists through StatsRouteOptions.routes.
 */
import type { WaypostConfig } from '../config/schema.js';

export interface RouteView {
  readonly id: string;
  /** `config`, `convention`, or the name of another source. */
  readonly source: string;
  /** null = any host. */
  readonly host: string | null;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** null = the service named by the host (the convention). */
  readonly service: string | null;
  readonly stripPrefix: boolean;
}

/** The config file's routes (ids as the router names them) and one convention route per domain. */
export function configRouteViews(config: Pick<WaypostConfig, 'routes' | 'domains'>): RouteView[] {
  const routes: RouteView[] = config.routes.map((route, index) => ({
    id: `route[${index}]`,
    source: 'config',
    host: route.host ?? null,
    path: route.path,
    headers: route.headers,
    service: route.service,
    stripPrefix: route.stripPrefix,
  }));
  for (const domain of config.domains) {
    routes.push({ id: 'convention', source: 'convention', host: `{service}.${domain}`, path: '/', headers: {}, service: null, stripPrefix: false });
  }
  return routes;
}
