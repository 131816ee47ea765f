/**
 * Routes as registry data (issue 19): the ids and bodies of API routes, validated with
 * the config file's own route schema, and the routes instances declare for their service.
 * Pure checks and encodings shared by the stores, the admin API and the clients.
 */
import { z } from 'zod';
import { describeIssue } from '../config/issues.js';
import { routeSchema, type RouteConfig } from '../config/schema.js';
import { ErrorCodes, invalid, WaypostError } from '../errors.js';
import type { DeclaredRoute } from '../types.js';
import { isNestedDeeperThan, LIMITS, quote } from './validate.js';

/** API route ids: URL- and log-safe, and never shaped like a config (`route[0]`) or declared (`service:…`) id. */
export const ROUTE_ID_PATTERN = /^[a-z0-9._-]{1,64}$/;

/** An API route body as given (JSON), already validated by parseRouteBody. */
export type RouteBody = Readonly<Record<string, unknown>>;

/** Routes one instance may declare. */
export const MAX_DECLARED_ROUTES = 16;

export function checkRouteId(value: unknown, field = 'id'): string {
  if (typeof value !== 'string' || !ROUTE_ID_PATTERN.test(value)) {
    throw invalid(field, `${field} must be 1-64 of a-z 0-9 . _ -; got ${quote(value)}`);
  }
  return value;
}

/**
 * Validates an API route body with the config route schema. Returns the body itself with
 * its keys sorted, so an equal body stores as an equal string (no change event).
 */
export function parseRouteBody(body: unknown): RouteBody {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid('', 'request body must be a JSON object: a route, as in the config file\'s routes list (at least "service")');
  }
  if (isNestedDeeperThan(body, LIMITS.jsonDepth)) throw invalid('', `request body nests deeper than ${LIMITS.jsonDepth} levels`);
  const result = routeSchema.safeParse(body);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const keys = issue.code === 'unrecognized_keys' ? issue.keys.slice(0, 1) : [];
    const field = [...issue.path, ...keys].map(String).join('.');
    throw invalid(field, `${field || 'route'}: ${describeIssue(issue, routeSchema)}`);
  }
  return JSON.parse(canonicalJson(body)) as RouteBody;
}

/** The route table's view of a stored body; undefined when it does not validate here (written by a newer proxy). */
export function routeConfigOf(body: RouteBody): RouteConfig | undefined {
  const result = routeSchema.safeParse(body);
  return result.success ? result.data : undefined;
}

/** JSON with object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** The keys a declared route shares with a config route, checked by the config's own field schemas. */
const declaredRouteSchema = z.strictObject({
  host: routeSchema.shape.host,
  path: routeSchema.shape.path,
  stripPrefix: routeSchema.shape.stripPrefix,
});

/** `routes` of a registration: at most MAX_DECLARED_ROUTES, no two with the same host and path. */
export function checkDeclaredRoutes(value: unknown, field = 'routes'): DeclaredRoute[] {
  if (!Array.isArray(value)) throw invalid(field, `${field} must be an array of {host?, path?, stripPrefix?}; got ${quote(value)}`);
  if (value.length > MAX_DECLARED_ROUTES) {
    throw invalid(field, `${field} may hold at most ${MAX_DECLARED_ROUTES} routes; got ${value.length}`);
  }
  const seen = new Map<string, number>();
  return value.map((entry, i) => {
    const result = declaredRouteSchema.safeParse(entry);
    if (!result.success) {
      const issue = result.error.issues[0]!;
      const keys = issue.code === 'unrecognized_keys' ? issue.keys.slice(0, 1) : [];
      const path = [`${field}[${i}]`, ...issue.path.map(String), ...keys].join('.');
      throw invalid(path, `${path}: ${describeIssue(issue, declaredRouteSchema)}`);
    }
    const { host, path, stripPrefix } = result.data;
    // Keys are stored newline-separated in Redis, and no request path holds these characters anyway.
    if (/[\u0000-\u0020\u007f]/.test(path)) throw invalid(`${field}[${i}].path`, `${field}[${i}].path must not contain spaces or control characters`);
    const route: DeclaredRoute = host === undefined ? { path, stripPrefix } : { host: host.toLowerCase(), path, stripPrefix };
    const key = declaredRouteKey(route);
    const first = seen.get(key);
    if (first !== undefined) throw invalid(`${field}[${i}]`, `${field}[${i}] declares the same host and path as ${field}[${first}]`);
    seen.set(key, i);
    return route;
  });
}

/**
 * What two services may not both declare: host and path (`orders.example.com/api`, or
 * `/api` for any host). Unambiguous: a host has no "/", a path starts with one.
 */
export function declaredRouteKey(route: DeclaredRoute): string {
  return `${route.host ?? ''}${route.path}`;
}

/** Stable, JSON-friendly copies for records (frozen). */
export function frozenDeclaredRoutes(routes: readonly DeclaredRoute[]): readonly DeclaredRoute[] {
  return Object.freeze(routes.map((r) => Object.freeze(r.host === undefined ? { path: r.path, stripPrefix: r.stripPrefix } : { host: r.host, path: r.path, stripPrefix: r.stripPrefix })));
}

export function sameDeclaredRoutes(a: readonly DeclaredRoute[] | undefined, b: readonly DeclaredRoute[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every((r, i) => r.host === y[i]!.host && r.path === y[i]!.path && r.stripPrefix === y[i]!.stripPrefix);
}

/** The refusal both stores give when a registration declares a route another service owns. */
export function routeConflict(service: string, key: string, owner: string): WaypostError {
  return new WaypostError(
    ErrorCodes.ROUTE_CONFLICT,
    `route "${key}" is already declared by service "${owner}"; service "${service}" cannot declare it too (deregister ${owner}'s instances or pick another host/path)`,
    { field: 'routes' },
  );
}
