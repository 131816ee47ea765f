/**
 * The routes half of the admin API (issue 19):
 *   GET    /v1/routes[?wait=REV&timeout=30s]  every route with its source (config, api, declared)
 *   GET    /v1/routes/{id}                    one of them
 *   PUT    /v1/routes/{id}                    create or replace an API route (body: a config route)
 *   DELETE /v1/routes/{id}                    remove an API route
 * Writes need the token like every mutation and are validated with the config file's
 * route schema (400 naming the field). Reads come from this proxy's router, which follows
 * the registry; after a write the handler waits (bounded) until this proxy routes by it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, WaypostError } from '../errors.js';
import type { Logger } from '../log.js';
import type { RegistryMirror } from '../mirror/mirror.js';
import { checkRouteId, parseRouteBody } from '../registry/routes.js';
import type { RegistryStore } from '../registry/store.js';
import { registryRouteListing, type RouteListing } from '../routing/live-router.js';
import type { TokenGuard } from './auth.js';
import { parseBlockingQuery, type BlockingQueries } from './blocking-query.js';
import { readJsonBody, sendJson, sendNoContent } from './body.js';
import { MethodNotAllowed, READ_YOUR_WRITES_MS } from './registry-api.js';

/** What the routes API reads: this proxy's live router. */
export interface RouteCatalog {
  list(): RouteListing;
  waitForChange(afterRevision: number, timeoutMs: number, signal?: AbortSignal): Promise<void>;
}

/**
 * The registry's routes (API and declared) straight from a mirror, for an admin server with
 * no router of its own (tests, tools): config routes are not known there.
 */
export function mirrorRouteCatalog(mirror: RegistryMirror): RouteCatalog {
  return {
    list: () => registryRouteListing({ revision: mirror.revision, services: [...mirror.services()], routes: [...mirror.routes().values()] }),
    waitForChange: async (afterRevision, timeoutMs, signal) => {
      await mirror.waitForRevision(afterRevision + 1, timeoutMs, signal);
    },
  };
}

export interface RoutesApiOptions {
  store: RegistryStore;
  mirror: RegistryMirror;
  catalog: RouteCatalog;
  token: TokenGuard;
  blocking: BlockingQueries;
  maxBodyBytes: number;
  logger: Logger;
  /** Longest wait for this proxy to route by a write before answering anyway. @default 1000 */
  readYourWritesMs?: number;
}

export interface RoutesRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** Path segments after `/v1/routes`, URL-decoded. */
  readonly segments: readonly string[];
  readonly query: URLSearchParams;
  readonly clientGone: AbortSignal;
}

/** Longest id looked up by GET (config and declared ids are not API-id shaped). */
const MAX_LOOKUP_ID = 512;

export class RoutesApi {
  readonly #o: RoutesApiOptions;
  readonly #readYourWritesMs: number;

  constructor(options: RoutesApiOptions) {
    this.#o = options;
    this.#readYourWritesMs = options.readYourWritesMs ?? READ_YOUR_WRITES_MS;
  }

  async handle(request: RoutesRequest): Promise<void> {
    const method = request.req.method ?? 'GET';
    const handlers: Record<string, () => Promise<void>> | undefined =
      request.segments.length === 0
        ? { GET: () => this.#list(request) }
        : request.segments.length === 1
          ? { GET: () => this.#get(request), PUT: () => this.#put(request), DELETE: () => this.#delete(request) }
          : undefined;
    if (!handlers) throw new WaypostError(ErrorCodes.NOT_FOUND, 'no such admin API path');
    const handler = handlers[method === 'HEAD' ? 'GET' : method];
    if (!handler) throw new MethodNotAllowed(Object.keys(handlers));
    if (method !== 'GET' && method !== 'HEAD') this.#o.token.check(request.req.headers);
    await handler();
  }

  async #list({ res, query, clientGone }: RoutesRequest): Promise<void> {
    const blocking = parseBlockingQuery(query);
    if (blocking && this.#o.catalog.list().revision <= blocking.afterRevision && blocking.timeoutMs > 0) {
      await this.#o.blocking.park(clientGone, (signal) => this.#o.catalog.waitForChange(blocking.afterRevision, blocking.timeoutMs, signal));
      if (clientGone.aborted) return;
    }
    const listing = this.#o.catalog.list();
    sendJson(res, 200, listing, { 'x-waypost-revision': listing.revision });
  }

  async #get({ res, segments }: RoutesRequest): Promise<void> {
    const id = segments[0]!;
    const found = id.length <= MAX_LOOKUP_ID ? this.#o.catalog.list().routes.find((route) => route.id === id) : undefined;
    if (!found) throw unknownRoute(id);
    sendJson(res, 200, found);
  }

  async #put({ req, res, segments }: RoutesRequest): Promise<void> {
    const id = checkRouteId(segments[0]);
    const body = await readJsonBody(req, { maxBytes: this.#o.maxBodyBytes, required: true });
    const route = parseRouteBody(body);
    const result = await this.#o.store.putRoute(id, route);
    await this.#settle(() => (this.#o.mirror.routes().get(id)?.revision ?? 0) >= result.route.revision);
    sendJson(res, result.created ? 201 : 200, result.route);
  }

  async #delete({ res, segments }: RoutesRequest): Promise<void> {
    const id = checkRouteId(segments[0]);
    if (!(await this.#o.store.deleteRoute(id))) throw unknownRoute(id);
    await this.#settle(() => !this.#o.mirror.routes().has(id));
    sendNoContent(res);
  }

  /** Waits until this proxy's mirror shows the write (the router rebuilds in the same turn). */
  async #settle(shown: () => boolean): Promise<void> {
    const deadline = Date.now() + this.#readYourWritesMs;
    while (!shown()) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        this.#o.logger.warn('mirror did not show the route write in time');
        return;
      }
      await this.#o.mirror.waitForRevision(this.#o.mirror.revision + 1, remaining);
    }
  }
}

function unknownRoute(id: string): WaypostError {
  return new WaypostError(ErrorCodes.NOT_FOUND, `route ${JSON.stringify(id.slice(0, 100))} does not exist`, { field: 'id' });
}
