/**
 * The admin listener (default 127.0.0.1:9901): registry API, /healthz, /readyz,
 * /metrics, and any extra routes (the dashboard). Every handler runs inside one
 * wrapper: a WaypostError becomes its JSON body and status; anything else is
 * logged and answered with a bare 500, never a stack or a crash.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCodes, WaypostError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { RegistryMirror } from '../mirror/mirror.js';
import type { RegistryStore } from '../registry/store.js';
import type { WaypostConfig } from '../config/schema.js';
import { TokenGuard } from './auth.js';
import { BlockingQueries } from './blocking-query.js';
import { sendJson } from './body.js';
import { answerFailure, designErrorFormat } from './failure.js';
import { healthFromStatus, type HealthOf } from './health-view.js';
import { MethodNotAllowed, RegistryApi } from './registry-api.js';
import { mirrorRouteCatalog, RoutesApi, type RouteCatalog } from './routes-api.js';
import { viaFromWaypost, viaNames } from '../net/via.js';
import type { OwnListeners } from './self-loop.js';
import { RegistrationTargets } from './targets.js';

export interface AdminRoute {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Exact path, e.g. `/`. */
  readonly path: string;
  handle(req: IncomingMessage, res: ServerResponse): void | Promise<void>;
}

/** What an extra handler is given besides the request and response. */
export interface AdminHandlerContext {
  /** The raw path, without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  /** Aborts when the client goes away before the answer. */
  readonly clientGone: AbortSignal;
}

/**
 * A handler for a family of paths (prefixes, patterns): returns false when the
 * path is not its own, true once it answered. It writes its own errors (other
 * APIs answer in their own format), so it should not throw.
 */
export type AdminHandler = (req: IncomingMessage, res: ServerResponse, context: AdminHandlerContext) => boolean | Promise<boolean>;

export interface AdminServerOptions {
  config: WaypostConfig;
  store: RegistryStore;
  mirror: RegistryMirror;
  metrics: Metrics;
  logger: Logger;
  /** The proxy's view of an instance's health; defaults to its registry status. */
  healthOf?: HealthOf;
  /** Readiness beyond a synced mirror (e.g. listeners bound). @default () => true */
  isReady?: () => boolean;
  extraRoutes?: readonly AdminRoute[];
  /** Tried in order after the exact routes and before the 404 (e.g. the Eureka and Consul compat APIs). */
  extraHandlers?: readonly AdminHandler[];
  /** Longest wait for the mirror to show a write before answering it. @default 1000 */
  readYourWritesMs?: number;
  /** This proxy's routes, for `/v1/routes` (absent: the registry's API and declared routes from the mirror). */
  routes?: RouteCatalog;
  /** The proxy's own listeners: registering one of them is refused with 403 (no self-loop). */
  forbiddenTargets?: OwnListeners;
  /**
   * The proxy's Via id: a request naming it came through the proxy's own data path (the
   * admin address registered as an instance) and is refused with 508, never served. A Via
   * from any other proxy (nginx in front of the admin API) is fine.
   */
  proxyId?: string;
}

/** Headers must arrive within this time (slowloris). */
const HEADERS_TIMEOUT_MS = 10_000;
/** The whole request (headers and body) must arrive within this; blocking answers are not limited by it. */
const REQUEST_TIMEOUT_MS = 30_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** close() waits this long for in-flight writes before cutting connections. */
const CLOSE_GRACE_MS = 2_000;

export class AdminServer {
  readonly #config: WaypostConfig;
  readonly #mirror: RegistryMirror;
  readonly #metrics: Metrics;
  readonly #log: Logger;
  readonly #isReady: () => boolean;
  readonly #blocking: BlockingQueries;
  readonly #api: RegistryApi;
  readonly #routes: RoutesApi;
  readonly #extra = new Map<string, AdminRoute[]>();
  readonly #handlers: readonly AdminHandler[];
  readonly #proxyId: string | undefined;
  readonly #server: http.Server;
  #closing: Promise<void> | undefined;

  constructor(options: AdminServerOptions) {
    const { config } = options;
    this.#config = config;
    this.#mirror = options.mirror;
    this.#metrics = options.metrics;
    this.#log = options.logger.child({ component: 'admin' });
    this.#isReady = options.isReady ?? (() => true);
    this.#blocking = new BlockingQueries(options.mirror, config.admin.maxWaiters);
    this.#api = new RegistryApi({
      store: options.store,
      mirror: options.mirror,
      healthOf: options.healthOf ?? healthFromStatus,
      token: new TokenGuard(config.admin.token),
      targets: new RegistrationTargets(config.admin.allowedCidrs, options.forbiddenTargets),
      blocking: this.#blocking,
      maxBodyBytes: config.admin.maxBodyBytes,
      logger: this.#log,
      ...(options.readYourWritesMs === undefined ? {} : { readYourWritesMs: options.readYourWritesMs }),
    });
    this.#routes = new RoutesApi({
      store: options.store,
      mirror: options.mirror,
      catalog: options.routes ?? mirrorRouteCatalog(options.mirror),
      token: new TokenGuard(config.admin.token),
      blocking: this.#blocking,
      maxBodyBytes: config.admin.maxBodyBytes,
      logger: this.#log,
      ...(options.readYourWritesMs === undefined ? {} : { readYourWritesMs: options.readYourWritesMs }),
    });
    for (const route of options.extraRoutes ?? []) {
      const routes = this.#extra.get(route.path) ?? [];
      routes.push(route);
      this.#extra.set(route.path, routes);
    }
    this.#handlers = options.extraHandlers ?? [];
    this.#proxyId = options.proxyId;
    this.#server = http.createServer((req, res) => void this.#dispatch(req, res));
    this.#server.headersTimeout = HEADERS_TIMEOUT_MS;
    this.#server.requestTimeout = REQUEST_TIMEOUT_MS;
    this.#server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  }

  /** Binds admin.listen (port 0 = any free port) and reports the bound address. */
  listen(): Promise<{ host: string; port: number }> {
    const { host, port } = this.#config.admin.listen;
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.#server.once('error', onError);
      this.#server.listen(port, host, () => {
        this.#server.off('error', onError);
        const address = this.#server.address() as AddressInfo;
        this.#log.info({ host: address.address, port: address.port }, 'admin listening');
        resolve({ host: address.address, port: address.port });
      });
    });
  }

  /** Blocking queries waiting for a change right now. */
  get parkedQueries(): number {
    return this.#blocking.parked;
  }

  /** Answers parked blocking queries, stops accepting, lets in-flight calls finish briefly; idempotent. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#blocking.releaseAll();
      if (!this.#server.listening) return resolve();
      const force = setTimeout(() => this.#server.closeAllConnections(), CLOSE_GRACE_MS);
      force.unref();
      this.#server.close(() => {
        clearTimeout(force);
        resolve();
      });
      this.#server.closeIdleConnections();
    });
    return this.#closing;
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const clientGone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) clientGone.abort();
    });
    try {
      this.#refuseOwnDataPath(req);
      const [rawPath = '/', search = ''] = (req.url ?? '/').split('?', 2);
      const query = new URLSearchParams(search);
      const method = req.method ?? 'GET';
      const extra = this.#extra.get(rawPath);
      if (extra) {
        const route = extra.find((r) => r.method === method);
        if (!route) throw new MethodNotAllowed(extra.map((r) => r.method));
        await route.handle(req, res);
        return;
      }
      switch (rawPath) {
        case '/healthz':
          return this.#onlyGet(method, () => sendJson(res, 200, { status: 'ok' }));
        case '/readyz':
          return this.#onlyGet(method, () => this.#readiness(res));
        case '/metrics':
          return await this.#onlyGet(method, () => this.#metricsText(res));
      }
      for (const handler of this.#handlers) {
        if (await handler(req, res, { path: rawPath, query, clientGone: clientGone.signal })) return;
      }
      const segments = decodeSegments(rawPath);
      if (segments[0] === 'v1' && segments[1] === 'routes') {
        return await this.#routes.handle({ req, res, segments: segments.slice(2), query, clientGone: clientGone.signal });
      }
      if (segments[0] !== 'v1' || segments[1] !== 'services') {
        throw new WaypostError(ErrorCodes.NOT_FOUND, `no such admin path: ${JSON.stringify(rawPath.slice(0, 100))}`);
      }
      await this.#api.handle({ req, res, segments: segments.slice(2), query, clientGone: clientGone.signal });
    } catch (err) {
      this.#fail(req, res, err);
    }
  }

  /**
   * Reads as well as writes: the admin API is never reachable through a proxy port (DESIGN §8),
   * this proxy's or another Waypost's (every Waypost marks its Via entry). An operator's own
   * reverse proxy in front of the admin port (nginx's Via) is still served.
   */
  #refuseOwnDataPath(req: IncomingMessage): void {
    const via = req.headers.via;
    if (via === undefined) return;
    if (!viaFromWaypost(via) && (this.#proxyId === undefined || !viaNames(via, this.#proxyId))) return;
    throw new WaypostError(
      ErrorCodes.LOOP_DETECTED,
      'the admin API is not served through a Waypost proxy listener (the request\'s Via names one): an instance is registered at the admin address',
    );
  }

  #onlyGet(method: string, answer: () => void | Promise<void>): void | Promise<void> {
    if (method !== 'GET' && method !== 'HEAD') throw new MethodNotAllowed(['GET']);
    return answer();
  }

  #readiness(res: ServerResponse): void {
    const synced = this.#mirror.synced;
    const ready = synced && this.#isReady();
    sendJson(res, ready ? 200 : 503, {
      status: ready ? 'ready' : 'not_ready',
      registrySynced: synced,
      registryConnected: this.#mirror.connected,
    });
  }

  async #metricsText(res: ServerResponse): Promise<void> {
    const text = await this.#metrics.text();
    res.writeHead(200, { 'content-type': this.#metrics.contentType, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  #fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    answerFailure(req, res, err, this.#log, designErrorFormat);
  }
}

/** Path segments, each URL-decoded; bad %-encoding is a 400, not an exception. */
export function decodeSegments(path: string): string[] {
  return path
    .split('/')
    .slice(1)
    .map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        throw new WaypostError(ErrorCodes.INVALID, `path segment ${JSON.stringify(segment.slice(0, 100))} is not valid percent-encoding`, {
          field: 'path',
        });
      }
    });
}
