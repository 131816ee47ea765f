/**
 * RouteTable: the immutable Router built once from the configuration.
 *
 * Lookup, most specific first (DESIGN §5):
 *   1. routes for the exact host (one Map lookup);
 *   2. wildcard routes `*.suffix`, longest suffix first (one Map lookup per label);
 *   3. routes without a host;
 *   4. the convention `{service}.{domain}` for each configured domain.
 * Within one host the routes are sorted by path prefix length (longest first),
 * then by number of header conditions (more first), then config order; the first
 * whose prefix and headers match wins. Nothing is compiled per request, and a
 * match allocates one small object.
 *
 * A route whose service the registry does not know still matches; its pick()
 * returns undefined (→ 503 no healthy instance, not 404 no route).
 */
import { createBalancer, type BalancerOptions, type StickyBalancer } from '../balancer/index.js';
import type { Balancer, PickContext } from '../balancer/policy.js';
import type { Endpoint } from '../endpoint.js';
import { DEFAULT_STICKY_COOKIE, type StickyOptions } from '../balancer/sticky.js';
import type { RouteConfig, WaypostConfig } from '../config/schema.js';
import type { PolicyConfig } from '../config/policy-schema.js';
import { isServiceName } from '../types.js';
import { matchesHeaders, matchesPathPrefix, normalizeHost, stripPathPrefix, type HeaderCondition } from './match.js';
import { configRouteStableIds } from './route-stable-id.js';
import type { RouteMatch, Router, RouteTimeouts } from './route.js';
import { ServiceRoute, type EndpointSetSource, type ServiceSource } from './service-route.js';
import { compilePolicy, effectivePolicy, type PolicyDeps, type RoutePolicy } from '../policy/chain.js';
import type { SplitPicker } from '../policy/split.js';
import { Metrics } from '../metrics.js';

export type { EndpointSetSource, ServiceSource } from './service-route.js';

export type RouteTableConfig = Pick<WaypostConfig, 'routes' | 'domains' | 'balancer' | 'retries' | 'timeouts' | 'defaults'>;

/** A route from outside the config file (the registry: API or declared), with its id for logs. */
export interface LabelledRoute {
  readonly id: string;
  readonly route: RouteConfig;
  /** What keeps the route's policy state across tables (PolicyRoute.stableId). @default id */
  readonly stableId?: string;
}

export interface RouteTableOptions {
  config: RouteTableConfig;
  /**
   * Routes after the config file's (live-router.ts passes API routes, then declared ones).
   * On an equal match (same host, path and header count) the earlier route wins, so config
   * routes take precedence over these, and these in the order given.
   */
  extraRoutes?: readonly LabelledRoute[];
  services: ServiceSource;
  endpointSets: EndpointSetSource;
  /** Passed to every balancer (e.g. an injected random source). */
  balancerOptions?: Pick<BalancerOptions, 'random'>;
  /** What route policies use (metrics, shared counters…); tests without policies may omit it. */
  policyDeps?: PolicyDeps;
}

export const CONVENTION_ROUTE_ID = 'convention';

/** One configured (or convention) route, with everything precomputed. */
class CompiledRoute extends ServiceRoute {
  constructor(
    readonly id: string,
    service: string,
    readonly prefix: string,
    readonly stripPrefix: boolean,
    readonly headers: readonly HeaderCondition[],
    retries: number,
    timeouts: RouteTimeouts,
    balancer: Balancer,
    readonly sticky: StickyBalancer | undefined,
    readonly order: number,
    services: ServiceSource,
    endpointSets: EndpointSetSource,
    /** The route's policy chain; undefined when it has none (nothing to run per request). */
    readonly policy: RoutePolicy | undefined,
  ) {
    super(service, balancer, retries, timeouts, services, endpointSets);
    this.split = policy?.split;
  }

  /** The route's `split` tag groups; undefined (nearly every route) = the balancer alone. */
  readonly split: SplitPicker | undefined;

  override pick(ctx: PickContext): Endpoint | undefined {
    if (this.split === undefined) return super.pick(ctx);
    const set = this.eligibleSet();
    return set === undefined ? undefined : this.split.pick(set, ctx, this.balancer);
  }

  matches(target: string, header: (name: string) => string | undefined): boolean {
    return matchesPathPrefix(target, this.prefix) && matchesHeaders(this.headers, header);
  }

  createMatch(target: string): RouteMatch {
    const upstreamPath = this.stripPrefix ? stripPathPrefix(target, this.prefix) : target;
    const pins = this.sticky !== undefined || this.split?.setsCookie === true;
    return pins ? new StickyMatch(this, upstreamPath) : new Match(this, upstreamPath);
  }
}

/** The per-request result: one object holding the route and the rewritten path. */
class Match implements RouteMatch {
  constructor(
    protected readonly route: CompiledRoute,
    /** Written by the `rewrite` policy step. */
    public upstreamPath: string,
  ) {}

  get policy(): RoutePolicy | undefined {
    return this.route.policy;
  }

  get routeId(): string {
    return this.route.id;
  }

  get service(): string {
    return this.route.service;
  }

  get retries(): number {
    return this.route.retries;
  }

  get timeouts(): RouteTimeouts {
    return this.route.timeouts;
  }

  pick(ctx: PickContext): Endpoint | undefined {
    return this.route.pick(ctx);
  }
}

/** A route whose responses pin the client: to an instance (`sticky`) and/or a `split` group (`split.sticky.cookie`). */
class StickyMatch extends Match {
  onResponse(endpoint: Endpoint, setHeader: (name: string, value: string) => void): void {
    this.route.sticky?.onResponse(endpoint, setHeader);
    this.route.split?.onResponse(endpoint, setHeader);
  }
}

function byPrecedence(a: CompiledRoute, b: CompiledRoute): number {
  return b.prefix.length - a.prefix.length || b.headers.length - a.headers.length || a.order - b.order;
}

function stickyOptions(sticky: RouteConfig['sticky']): StickyOptions | undefined {
  if (sticky === undefined || sticky === false) return undefined;
  if (sticky === true) return { cookie: DEFAULT_STICKY_COOKIE };
  return { cookie: sticky.cookie, ttlMs: sticky.ttl };
}

function firstMatch(
  routes: readonly CompiledRoute[] | undefined,
  target: string,
  header: (name: string) => string | undefined,
): CompiledRoute | undefined {
  if (routes === undefined) return undefined;
  for (let i = 0; i < routes.length; i++) if (routes[i]!.matches(target, header)) return routes[i];
  return undefined;
}

export class RouteTable implements Router {
  readonly #exact = new Map<string, CompiledRoute[]>();
  /** Key: the suffix including its leading dot (`.example.com` for `*.example.com`). */
  readonly #wildcard = new Map<string, CompiledRoute[]>();
  readonly #hostless: CompiledRoute[] = [];
  /** Host-less routes on "/" without header conditions: the least specific, tried after the host convention. */
  readonly #catchAll: CompiledRoute[] = [];
  /** `.domain` for each configured domain. */
  readonly #domainSuffixes: readonly string[];
  readonly #conventionRoutes = new Map<string, CompiledRoute>();
  readonly #conventionBalancer: Balancer;
  readonly #defaults: { retries: number; timeouts: RouteTimeouts };
  readonly #services: ServiceSource;
  readonly #endpointSets: EndpointSetSource;
  readonly #defaultPolicy: WaypostConfig['defaults'];
  readonly #policyDeps: PolicyDeps;

  constructor(options: RouteTableOptions) {
    const { config, services, endpointSets } = options;
    const balancerOptions = options.balancerOptions ?? {};
    this.#services = services;
    this.#endpointSets = endpointSets;
    this.#defaultPolicy = config.defaults;
    const deps = options.policyDeps ?? { metrics: new Metrics({ processMetrics: false }) };
    // `split` draws its groups with the balancers' random source unless the deps bring their own.
    this.#policyDeps = deps.random === undefined && balancerOptions.random !== undefined ? { ...deps, random: balancerOptions.random } : deps;
    const g = config.timeouts;
    this.#defaults = {
      retries: config.retries,
      timeouts: Object.freeze({ connect: g.connect, header: g.header, idle: g.idle }),
    };
    this.#conventionBalancer = createBalancer(config.balancer, balancerOptions);
    this.#domainSuffixes = config.domains.map((d) => `.${normalizeHost(d)}`);

    const policyDeps = this.#policyDeps;
    // Config routes are labelled by position, but their state follows what they match.
    const stableIds = configRouteStableIds(config.routes);
    const labelled = config.routes.map((route, index): LabelledRoute => ({ id: `route[${index}]`, route, stableId: stableIds[index]! }));
    labelled.push(...(options.extraRoutes ?? []));
    labelled.forEach(({ id, route, stableId = id }, index) => {
      const compiled = new CompiledRoute(
        id,
        route.service,
        route.path,
        route.stripPrefix,
        Object.entries(route.headers).map(([name, value]) => [name.toLowerCase(), value] as const),
        route.retries ?? config.retries,
        Object.freeze({
          connect: route.timeouts?.connect ?? g.connect,
          header: route.timeouts?.header ?? g.header,
          idle: route.timeouts?.idle ?? g.idle,
        }),
        ...this.#balancerFor(route, config.balancer, balancerOptions),
        index,
        services,
        endpointSets,
        compilePolicy(routePolicyConfig(route, config.defaults), { routeId: id, service: route.service, stableId }, policyDeps),
      );
      if (route.host === undefined && route.path === '/' && compiled.headers.length === 0) this.#catchAll.push(compiled);
      else if (route.host === undefined) this.#hostless.push(compiled);
      else if (route.host.startsWith('*.')) push(this.#wildcard, normalizeHost(route.host.slice(1)), compiled);
      else push(this.#exact, normalizeHost(route.host), compiled);
    });
    for (const routes of this.#exact.values()) routes.sort(byPrecedence);
    for (const routes of this.#wildcard.values()) routes.sort(byPrecedence);
    this.#hostless.sort(byPrecedence);
  }

  match(host: string, path: string, header: (name: string) => string | undefined): RouteMatch | undefined {
    const h = normalizeHost(host);
    const route =
      firstMatch(this.#exact.get(h), path, header) ??
      this.#matchWildcard(h, path, header) ??
      firstMatch(this.#hostless, path, header) ??
      this.#matchConvention(h) ??
      this.#catchAll[0];
    return route?.createMatch(path);
  }

  /** A departed service's convention route (and its balancer state) goes; a returning service gets a fresh one. */
  forgetService(service: string): void {
    this.#conventionRoutes.delete(service);
  }

  #matchWildcard(host: string, path: string, header: (name: string) => string | undefined): CompiledRoute | undefined {
    if (this.#wildcard.size === 0) return undefined;
    // `.b.example.com` before `.example.com`: the longest suffix is the most specific.
    for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
      const route = firstMatch(this.#wildcard.get(host.slice(dot)), path, header);
      if (route !== undefined) return route;
    }
    return undefined;
  }

  #matchConvention(host: string): CompiledRoute | undefined {
    for (const suffix of this.#domainSuffixes) {
      if (host.length <= suffix.length || !host.endsWith(suffix)) continue;
      const service = host.slice(0, host.length - suffix.length);
      // Only services the registry knows: host names are client input, and an unknown one must
      // answer 404 under the fixed unrouted label, not mint a metric series per made-up name.
      if (!isServiceName(service) || this.#services.get(service) === undefined) continue;
      return this.#conventionRoute(service);
    }
    return undefined;
  }

  #conventionRoute(service: string): CompiledRoute {
    let route = this.#conventionRoutes.get(service);
    if (route !== undefined) return route;
    route = new CompiledRoute(
      CONVENTION_ROUTE_ID,
      service,
      '/',
      false,
      [],
      this.#defaults.retries,
      this.#defaults.timeouts,
      this.#conventionBalancer,
      undefined,
      Number.MAX_SAFE_INTEGER,
      this.#services,
      this.#endpointSets,
      this.#conventionPolicy(service),
    );
    this.#conventionRoutes.set(service, route);
    return route;
  }

  /** Convention routes get the `defaults` policy (built per service, like the route itself). */
  #conventionPolicy(service: string): RoutePolicy | undefined {
    return compilePolicy(this.#defaultPolicy, { routeId: CONVENTION_ROUTE_ID, service }, this.#policyDeps);
  }

  #balancerFor(
    route: RouteConfig,
    fallback: WaypostConfig['balancer'],
    options: Pick<BalancerOptions, 'random'>,
  ): [Balancer, StickyBalancer | undefined] {
    const sticky = stickyOptions(route.sticky);
    const balancer = createBalancer(route.balancer ?? fallback, {
      ...options,
      ...(route.hashKey ? { hashKey: route.hashKey } : {}),
      ...(sticky ? { sticky } : {}),
    });
    return [balancer, sticky ? (balancer as StickyBalancer) : undefined];
  }
}

/**
 * The route's effective policy keys; a route's own `retries` (the short form) also
 * stands against a `retry` under `defaults`: the more specific setting wins.
 */
function routePolicyConfig(route: RouteConfig, defaults: WaypostConfig['defaults']): PolicyConfig {
  const config = effectivePolicy(route, defaults);
  return route.retries === undefined || route.retry !== undefined ? config : { ...config, retry: undefined };
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
