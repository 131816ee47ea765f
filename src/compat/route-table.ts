/**
 * A compat API's paths, compiled once at construction. A pattern is a path
 * relative to the API's prefix, `:name` matching any one segment:
 *
 *   new RouteTable<Call>({
 *     'apps/delta': { GET: (call) => … },          // declared first: wins over 'apps/:app'
 *     'apps/:app': { GET: (call, [app]) => …, POST: … },
 *   });
 *
 * Patterns are grouped by segment count, so a request is compared with the few
 * patterns of its own length; among those the first declared match wins.
 * HEAD is answered as GET.
 */

export type RouteMethod = 'GET' | 'PUT' | 'POST' | 'DELETE';
/** `params` are the segments matched by `:name`, in order. */
export type RouteHandler<C> = (call: C, params: readonly string[]) => Promise<void> | void;
export type RouteMethods<C> = Partial<Record<RouteMethod, RouteHandler<C>>>;

interface CompiledRoute<C> {
  /** A literal segment, or undefined where the pattern has a `:name`. */
  readonly segments: readonly (string | undefined)[];
  readonly methods: RouteMethods<C>;
}

export type RouteMatch<C> =
  | { readonly kind: 'found'; readonly handler: RouteHandler<C>; readonly params: readonly string[] }
  | { readonly kind: 'method-not-allowed'; readonly allow: readonly string[] }
  | { readonly kind: 'not-found' };

const NOT_FOUND = { kind: 'not-found' } as const;

export class RouteTable<C> {
  readonly #byLength = new Map<number, CompiledRoute<C>[]>();
  readonly #roots = new Set<string>();

  constructor(routes: Readonly<Record<string, RouteMethods<C>>>) {
    for (const [pattern, methods] of Object.entries(routes)) {
      const segments = pattern.split('/').map((segment) => (segment.startsWith(':') ? undefined : segment));
      if (segments[0] === undefined) throw new Error(`route ${pattern} must start with a literal segment`);
      this.#roots.add(segments[0]);
      const sameLength = this.#byLength.get(segments.length) ?? [];
      sameLength.push({ segments, methods });
      this.#byLength.set(segments.length, sameLength);
    }
  }

  /** Whether paths starting with this segment belong to the API (so an unknown one is the API's own 404). */
  owns(firstSegment: string | undefined): boolean {
    return firstSegment !== undefined && this.#roots.has(firstSegment);
  }

  match(method: string, segments: readonly string[]): RouteMatch<C> {
    const route = this.#byLength.get(segments.length)?.find((candidate) => matches(candidate.segments, segments));
    if (!route) return NOT_FOUND;
    const key = (method === 'HEAD' ? 'GET' : method) as RouteMethod;
    // Own keys only: a method named like an Object.prototype member is not a route.
    const handler = Object.hasOwn(route.methods, key) ? route.methods[key] : undefined;
    if (!handler) return { kind: 'method-not-allowed', allow: Object.keys(route.methods) };
    const params = segments.filter((_, i) => route.segments[i] === undefined);
    return { kind: 'found', handler, params };
  }
}

function matches(pattern: readonly (string | undefined)[], segments: readonly string[]): boolean {
  return pattern.every((literal, i) => literal === undefined || literal === segments[i]);
}
