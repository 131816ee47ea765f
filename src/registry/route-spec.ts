/**
 * Declared routes written as text: the sidecar's `--route` flag, the registrar's
 * `waypost.route` label, and Consul `urlprefix-` tags as fabio reads them. Each parser
 * returns plain `{host?, path?, stripPrefix?}` objects; registry/routes.ts validates them.
 *
 * Waypost spec (`--route`, repeatable; `waypost.route`, several joined by ";"):
 *   /api/orders                          path prefix, any host
 *   orders.example.com                   a host, path "/"
 *   orders.example.com/api               host and path
 *   /api/orders,stripPrefix              ... with the prefix stripped upstream
 *   host=orders.example.com,path=/x,stripPrefix=true   the same keys spelled out
 */
import { invalid } from '../errors.js';
import type { DeclaredRoute } from '../types.js';
import { checkDeclaredRoutes, declaredRouteKey } from './routes.js';

export interface RouteSpec {
  host?: string;
  path?: string;
  stripPrefix?: boolean;
}

export function parseRouteSpec(text: string, field = 'route'): RouteSpec {
  const spec: RouteSpec = {};
  const parts = text.split(',').map((part) => part.trim());
  parts.forEach((part, i) => {
    const eq = part.indexOf('=');
    const key = eq === -1 ? part : part.slice(0, eq);
    const value = eq === -1 ? undefined : part.slice(eq + 1);
    if (key === 'stripPrefix' || key === 'strip') {
      if (value !== undefined && value !== 'true' && value !== 'false') {
        throw invalid(field, `${field}: stripPrefix takes true or false, got "${value}"`);
      }
      spec.stripPrefix = value !== 'false';
    } else if (key === 'host' && value !== undefined) spec.host = value;
    else if (key === 'path' && value !== undefined) spec.path = value;
    else if (i === 0 && eq === -1 && part !== '') Object.assign(spec, hostAndPath(part));
    else {
      throw invalid(field, `${field}: "${part}" is not [HOST][/PATH], host=H, path=/P or stripPrefix[=true|false] (in "${text}")`);
    }
  });
  return spec;
}

/** Several specs in one value (a container label), separated by ";". */
export function parseRouteSpecs(text: string, field = 'route'): RouteSpec[] {
  return text
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => parseRouteSpec(part, field));
}

/**
 * A Consul tag as fabio reads it: `urlprefix-[host]/path [strip=/path]`, e.g.
 * `urlprefix-/api`, `urlprefix-orders.example.com/`, `urlprefix-/api strip=/api`.
 * undefined for any other tag, and for fabio forms Waypost cannot express (TCP
 * `urlprefix-:port`, a strip other than the route's own path), which are ignored as
 * fabio ignores tags it does not understand.
 */
export function parseUrlprefixTag(tag: string): RouteSpec | undefined {
  if (!tag.startsWith('urlprefix-')) return undefined;
  const [target = '', ...options] = tag.slice('urlprefix-'.length).trim().split(/\s+/);
  const slash = target.indexOf('/');
  if (slash === -1) return undefined;
  const spec = hostAndPath(target);
  for (const option of options) {
    const [key, value] = option.split('=', 2);
    if (key === 'strip') {
      if (value !== spec.path) return undefined;
      spec.stripPrefix = true;
    }
  }
  return spec;
}

/**
 * The routes a Consul service's tags declare: each urlprefix- tag Waypost can express and that
 * validates, without repeats. Like fabio, a tag it cannot use is skipped, not an error.
 */
export function routesFromConsulTags(tags: readonly unknown[]): DeclaredRoute[] {
  const routes = new Map<string, DeclaredRoute>();
  for (const tag of tags) {
    const spec = typeof tag === 'string' ? parseUrlprefixTag(tag) : undefined;
    if (spec === undefined) continue;
    try {
      const [route] = checkDeclaredRoutes([spec]);
      if (!routes.has(declaredRouteKey(route!))) routes.set(declaredRouteKey(route!), route!);
    } catch {
      // not a route Waypost can serve (bad host, path with spaces): ignored as fabio ignores it
    }
  }
  return [...routes.values()];
}

function hostAndPath(text: string): RouteSpec {
  const slash = text.indexOf('/');
  if (slash === -1) return { host: text };
  if (slash === 0) return { path: text };
  return { host: text.slice(0, slash), path: text.slice(slash) };
}
