/**
 * What identifies "the same config-file route" across reloads and across proxies:
 * what it matches (host, path prefix, header conditions). Config routes are labelled
 * by position (`route[N]`) in logs and listings, but a reload that inserts a route
 * earlier in the file shifts every later position, so state that must outlive a
 * route table (rate-limit buckets, a shared limit's Redis keys) is kept under this
 * id instead. Two proxies with the same routes in a different order get the same ids.
 *
 * The service is not part of it: state keys append it (a convention route's id is
 * the same for every service). API routes are identified by their id and declared
 * routes by `service:<name>:<host><path>`, which are stable already; the `config:`
 * prefix keeps these apart (neither kind of id can start with it).
 */
import type { RouteConfig } from '../config/schema.js';
import { normalizeHost } from './match.js';

type MatchedBy = Pick<RouteConfig, 'host' | 'path' | 'headers'>;

/**
 * `config:["api.example.com","/orders",[["x-tenant","a"]]]`: the host as the table
 * looks it up, the path, and the header conditions by lower-case name (order in the
 * file does not matter, as it does not for matching).
 */
export function configRouteStableId(route: MatchedBy): string {
  const headers = Object.entries(route.headers)
    .map(([name, value]) => [name.toLowerCase(), value] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `config:${JSON.stringify([route.host === undefined ? null : normalizeHost(route.host), route.path, headers])}`;
}

/**
 * The stable ids of a file's routes, in file order. Two routes of one service matching the
 * same requests (the later one is never reached) get `#2`, `#3`… so each keeps its own state.
 */
export function configRouteStableIds(routes: readonly (MatchedBy & Pick<RouteConfig, 'service'>)[]): string[] {
  const seen = new Map<string, number>();
  return routes.map((route) => {
    const id = configRouteStableId(route);
    const key = `${id}/${route.service}`;
    const count = (seen.get(key) ?? 0) + 1;
    seen.set(key, count);
    return count === 1 ? id : `${id}#${count}`;
  });
}
