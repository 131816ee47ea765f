/**
 * LiveRouter: the Router the listeners use when routes change at run time (issue 19).
 * It holds one immutable RouteTable and replaces it with ONE assignment when the route
 * set changes: the config file's routes (prepareConfig on a config reload), the registry's API
 * routes and the routes instances declare (fed by src/live-routes.ts from mirror events).
 *
 * Rebuilds happen off the request path: a change marks the table stale and one microtask
 * later (after the whole event batch) a new table is built and swapped in. match() is the
 * table's own match plus one field read; requests in flight keep the table they matched.
 * A table that fails to build is logged and the old one keeps serving.
 *
 * Precedence on an equal match (same host, path prefix and header count): config-file
 * routes, then API routes (by id), then declared routes (by service, then host+path).
 * Ids in logs: config `route[N]`, API the route's id, declared `service:<name>:<host><path>`.
 */
import { isDeepStrictEqual } from 'node:util';
import type { RouteConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { RegistryState, StoredRoute } from '../registry/store.js';
import { declaredRouteKey, routeConfigOf, type RouteBody } from '../registry/routes.js';
import type { DeclaredRoute } from '../types.js';
import type { RouteMatch, Router } from './route.js';
import { RouteTable, type LabelledRoute, type RouteTableConfig, type RouteTableOptions } from './table.js';

export type RouteSource = 'config' | 'api' | 'declared';

/** One route as `GET /v1/routes`, `waypost routes` and the dashboard show it. */
export interface ListedRoute {
  readonly id: string;
  readonly source: RouteSource;
  /** `declared` only: the service whose instances declare it. */
  readonly declaredBy?: string;
  /** The route: the API body as stored, a config route as loaded, or a declared route's keys with its service. */
  readonly route: RouteBody;
}

export interface RouteListing {
  /**
   * Rises with every change to the listed routes, so `?wait=REV` never misses one: the registry
   * revision of the last change to API or declared routes (0 = none seen) plus the number of
   * reloads that changed the config-file routes (equal to the registry's until such a reload).
   */
  readonly revision: number;
  /** In precedence order: config, API, declared. */
  readonly routes: readonly ListedRoute[];
}

export interface LiveRouterOptions extends Omit<RouteTableOptions, 'extraRoutes'> {
  logger: Logger;
}

interface Waiter {
  readonly afterRevision: number;
  readonly resolve: () => void;
}

/** Id of a declared route in logs and listings: stable whatever order instances declare it in. */
export function declaredRouteId(service: string, route: DeclaredRoute): string {
  return `service:${service}:${declaredRouteKey(route)}`;
}

export class LiveRouter implements Router {
  #table: RouteTable;
  #config: RouteTableConfig;
  readonly #options: LiveRouterOptions;
  readonly #log: Logger;
  #apiRoutes: readonly StoredRoute[] = [];
  /** Parsed once per stored route object (the mirror keeps unchanged routes' objects across events). */
  readonly #parsed = new WeakMap<StoredRoute, RouteConfig | null>();
  /** Service → its declared routes, sorted by host+path (only services declaring any). */
  readonly #declared = new Map<string, readonly DeclaredRoute[]>();
  /** The same, as table input: built when a service's routes change, not on every rebuild. */
  readonly #declaredLabelled = new Map<string, readonly LabelledRoute[]>();
  #listing: RouteListing = { revision: 0, routes: [] };
  #revision = 0;
  /**
   * Reloads that changed the config-file routes. Added to the registry revision rather than
   * bumping it: a later registry revision may equal a bumped number, and would then be missed.
   */
  #configChanges = 0;
  #stale = false;
  /** Counts registry route changes: tells a prepared reload table whether it is still current. */
  #generation = 0;
  readonly #waiters = new Set<Waiter>();

  constructor(options: LiveRouterOptions) {
    this.#options = options;
    this.#config = options.config;
    this.#log = options.logger.child({ component: 'live-router' });
    this.#table = new RouteTable(options);
    this.#listing = this.#list();
  }

  match(host: string, path: string, header: (name: string) => string | undefined): RouteMatch | undefined {
    return this.#table.match(host, path, header);
  }

  /** A departed service's convention route (and balancer state) goes. */
  forgetService(service: string): void {
    this.#table.forgetService(service);
  }

  /** New config-file routes and defaults: rebuilt and swapped at once. */
  setConfig(config: RouteTableConfig): void {
    this.prepareConfig(config)();
  }

  /**
   * Config reload, in two steps so the table swaps at the reload's commit point: builds the
   * table for `config` (with the current API and declared routes) now, throwing if it cannot
   * be built; the returned commit swaps it in with one assignment. A registry route change
   * that arrived in between is not lost: the table is then built again on commit.
   */
  prepareConfig(config: RouteTableConfig): () => void {
    const generation = this.#generation;
    const table = new RouteTable({ ...this.#options, config, extraRoutes: this.#extraRoutes() });
    return () => {
      // Only a change to the listed routes is news to blocking listers (not, say, new defaults).
      if (!isDeepStrictEqual(this.#config.routes, config.routes)) this.#configChanges++;
      this.#config = config;
      if (generation !== this.#generation || this.#stale) this.#rebuild();
      else {
        this.#table = table;
        this.#listing = this.#list();
        this.#wakeWaiters();
      }
    };
  }

  /** The registry's API routes as of registry `revision`. */
  setApiRoutes(routes: Iterable<StoredRoute>, revision: number): void {
    this.#apiRoutes = [...routes].sort((a, b) => compare(a.id, b.id));
    this.#changed(revision);
  }

  /**
   * The routes one service's instances declare now (any order, duplicates allowed); [] when
   * none or the service left. No rebuild when they are what the table already has.
   */
  setDeclaredRoutes(service: string, routes: readonly DeclaredRoute[], revision: number): void {
    const next = uniqueByKey(routes);
    const current = this.#declared.get(service) ?? [];
    if (sameRoutes(current, next)) return;
    if (next.length === 0) {
      this.#declared.delete(service);
      this.#declaredLabelled.delete(service);
    } else {
      this.#declared.set(service, next);
      this.#declaredLabelled.set(service, next.map((route) => ({ id: declaredRouteId(service, route), route: declaredRouteConfig(service, route) })));
    }
    this.#changed(revision);
  }

  /** Every route with its source, in precedence order (management path: may rebuild a stale table first). */
  list(): RouteListing {
    if (this.#stale) this.#rebuild();
    return this.#listing;
  }

  /** Resolves once the route set changed after `afterRevision`, or after `timeoutMs`, or when `signal` aborts. */
  waitForChange(afterRevision: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.list().revision > afterRevision || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', finish);
        this.#waiters.delete(waiter);
        resolve();
      };
      const waiter: Waiter = { afterRevision, resolve: finish };
      const timer = setTimeout(finish, timeoutMs);
      signal?.addEventListener('abort', finish, { once: true });
      this.#waiters.add(waiter);
    });
  }

  #changed(revision: number): void {
    this.#revision = Math.max(this.#revision, revision);
    this.#generation++;
    if (this.#stale) return;
    this.#stale = true;
    // After the event batch that caused it, before any request is read.
    queueMicrotask(() => {
      if (this.#stale) this.#rebuild();
    });
  }

  #rebuild(): void {
    this.#stale = false;
    const extraRoutes = this.#extraRoutes();
    try {
      const started = performance.now();
      const table = new RouteTable({ ...this.#options, config: this.#config, extraRoutes });
      this.#table = table;
      this.#log.debug({ routes: this.#config.routes.length + extraRoutes.length, ms: performance.now() - started }, 'route table rebuilt');
    } catch (err) {
      this.#log.error({ err }, 'route table rebuild failed; the previous table keeps serving');
      return;
    }
    this.#listing = this.#list();
    this.#wakeWaiters();
  }

  #wakeWaiters(): void {
    for (const waiter of [...this.#waiters]) if (this.#listing.revision > waiter.afterRevision) waiter.resolve();
  }

  #extraRoutes(): LabelledRoute[] {
    const routes: LabelledRoute[] = [];
    for (const stored of this.#apiRoutes) {
      let route = this.#parsed.get(stored);
      if (route === undefined) this.#parsed.set(stored, (route = routeConfigOf(stored.route) ?? null));
      if (route) routes.push({ id: stored.id, route });
      else this.#log.warn({ routeId: stored.id }, 'API route does not validate on this proxy; skipped');
    }
    for (const [, labelled] of [...this.#declaredLabelled].sort(([a], [b]) => compare(a, b))) routes.push(...labelled);
    return routes;
  }

  #list(): RouteListing {
    const routes: ListedRoute[] = this.#config.routes.map((route, i) => ({ id: `route[${i}]`, source: 'config', route: route as RouteBody }));
    for (const stored of this.#apiRoutes) routes.push({ id: stored.id, source: 'api', route: stored.route });
    for (const [service, declared] of [...this.#declared].sort(([a], [b]) => compare(a, b))) {
      for (const route of declared) {
        routes.push({ id: declaredRouteId(service, route), source: 'declared', declaredBy: service, route: { ...route, service } });
      }
    }
    return { revision: this.#revision + this.#configChanges, routes };
  }
}

/**
 * The API and declared routes of a registry dump, listed as a proxy lists them (without
 * config routes, which live in each proxy's file): `waypost routes --redis`.
 */
export function registryRouteListing(state: RegistryState): RouteListing {
  const routes: ListedRoute[] = state.routes.map((stored) => ({ id: stored.id, source: 'api', route: stored.route }));
  for (const service of [...state.services].sort((a, b) => compare(a.name, b.name))) {
    const declared = uniqueByKey(service.instances.flatMap((instance) => instance.routes ?? []));
    for (const route of declared) {
      routes.push({ id: declaredRouteId(service.name, route), source: 'declared', declaredBy: service.name, route: { ...route, service: service.name } });
    }
  }
  return { revision: state.revision, routes };
}

/** A declared route as a config route of its own service (defaults from the config schema). */
function declaredRouteConfig(service: string, route: DeclaredRoute): RouteConfig {
  return routeConfigOf({ ...route, service })!;
}

function uniqueByKey(routes: readonly DeclaredRoute[]): DeclaredRoute[] {
  const byKey = new Map<string, DeclaredRoute>();
  for (const route of routes) if (!byKey.has(declaredRouteKey(route))) byKey.set(declaredRouteKey(route), route);
  return [...byKey].sort(([a], [b]) => compare(a, b)).map(([, route]) => route);
}

function sameRoutes(a: readonly DeclaredRoute[], b: readonly DeclaredRoute[]): boolean {
  return a.length === b.length && a.every((r, i) => r.host === b[i]!.host && r.path === b[i]!.path && r.stripPrefix === b[i]!.stripPrefix);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
