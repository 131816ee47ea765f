/**
 * The HTTP listeners of the data path: per configured listen address one socket
 * (protocol-listener.ts) that hands each connection to node:http (HTTP/1.1, with the
 * client-side limits: header size → 431, slow headers → 408) or to the shared
 * node:http2 server (h2c by prior knowledge, h2 by ALPN; http2-server.ts), both
 * feeding the same request handler; and a graceful stop that lets in-flight requests
 * finish within a grace period (HTTP/2 clients get GOAWAY at once). A reload opens and
 * closes listeners one at a time (http-listener.ts) and leaves the others alone.
 */
import type http from 'node:http';
import type { Http2Server, ServerHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { OutcomeListener } from '../endpoint.js';
import { WaypostError } from '../errors.js';
import { listenerKey } from '../config/reload.js';
import type { EngineName, WaypostConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { generateProxyId } from '../net/via.js';
import type { Metrics } from '../metrics.js';
import type { Router } from '../routing/route.js';
import { HttpProxyEngine } from './engines/http-proxy.js';
import { UndiciEngine } from './engines/undici.js';
import { RawEngine } from './engines/raw.js';
import type { EngineStats, ForwardEngine } from './forwarder.js';
import type { Tracing } from '../tracing/tracing.js';
import type { AccessLogEntry } from '../access-log.js';
import { ProtocolEngines } from './engines/by-protocol.js';
import { ProxyHandler } from './handler.js';
import { createHttp2Server } from './http2-server.js';
import { HttpListener, redirectsToHttps, type ListenerConfig } from './http-listener.js';
import { ConnectionTracker } from './connection-tracker.js';
import { requestAuthority } from './headers.js';
import { requestIdOf } from '../request-id.js';
import { normalizeHost } from '../routing/match.js';
import { httpsRedirectStatus, isPlainHost, redirectBody } from '../policy/redirect.js';
import { LoopGuard } from './loop-guard.js';
import { normalizeRequestTarget } from './request-target.js';
import { sendProxyError, writeRawProxyError } from './responses.js';
import type { TlsCertificates } from './tls.js';
import { WebSocketProxy } from './ws.js';

/** Every engine name (config `engine`) with its implementation; the compiler checks the two agree. */
const ENGINES = {
  'http-proxy': () => new HttpProxyEngine(),
  undici: () => new UndiciEngine(),
  raw: () => new RawEngine(),
} as const satisfies Record<EngineName, () => ForwardEngine>;

export interface HttpProxyServerOptions {
  config: WaypostConfig;
  router: Router;
  engine: EngineName;
  metrics: Metrics;
  logger: Logger;
  outcomes?: OutcomeListener;
  onAccessLog?: (entry: AccessLogEntry) => void;
  /** Registry of upgraded WebSockets (draining); a private one when omitted. */
  connections?: ConnectionTracker;
  /** Certificates for listeners with `tls: true`; required when there is one. */
  tls?: TlsCertificates;
  /** This proxy's id in Via (loop detection); every worker of one proxy shares it. @default a fresh random id */
  proxyId?: string;
  /** OpenTelemetry tracing (requests, upgrades, gRPC calls); undefined = off. */
  tracing?: Tracing | undefined;
}

/** After the grace period, open WebSockets get this long for their closing handshake. */
const WEBSOCKET_CLOSE_MS = 2_500;

export class HttpProxyServer {
  #config: WaypostConfig;
  readonly #metrics: Metrics;
  readonly #log: Logger;
  readonly #engine: ForwardEngine;
  readonly #handler: ProxyHandler;
  readonly #ws: WebSocketProxy;
  readonly #connections: ConnectionTracker;
  #tls: TlsCertificates | undefined;
  readonly #loopGuard: LoopGuard;
  readonly #listeners: HttpListener[] = [];
  /** Serves every listener's HTTP/2 connections; created with the first listener that allows HTTP/2. */
  #http2: Http2Server | undefined;
  readonly #http2Sessions = new Set<ServerHttp2Session>();
  /** A listener has `redirect: https` (otherwise no request looks for the mark). */
  #anyRedirecting = false;
  #closing: Promise<void> | undefined;
  /** The engine allows the raw HTTP/1.1 listener (raw-http1/connection.ts). */
  readonly #rawHttp1Allowed: boolean;

  constructor(options: HttpProxyServerOptions) {
    this.#config = options.config;
    this.#metrics = options.metrics;
    this.#log = options.logger.child({ component: 'http-proxy' });
    this.#connections =
      options.connections ?? new ConnectionTracker({ drainTimeoutMs: options.config.drainTimeout, logger: this.#log });
    // Each attempt goes to the engine of the instance's protocol (HTTP/1.1 or HTTP/2).
    this.#engine = new ProtocolEngines(ENGINES[options.engine](), this.#connections);
    this.#handler = new ProxyHandler({
      config: options.config,
      router: options.router,
      engine: this.#engine,
      metrics: options.metrics,
      logger: this.#log,
      ...(options.outcomes === undefined ? {} : { outcomes: options.outcomes }),
      ...(options.onAccessLog === undefined ? {} : { onAccessLog: options.onAccessLog }),
      tracing: options.tracing,
    });
    this.#ws = new WebSocketProxy({
      config: options.config,
      router: options.router,
      metrics: options.metrics,
      logger: this.#log,
      connections: this.#connections,
      ...(options.outcomes === undefined ? {} : { outcomes: options.outcomes }),
      onAccessLog: options.onAccessLog,
      tracing: options.tracing,
    });
    this.#tls = options.tls;
    // Its light request/response pair is what the raw engine uses of node:http's (the other engines use more).
    this.#rawHttp1Allowed = options.engine === 'raw';
    this.#loopGuard = new LoopGuard(options.proxyId ?? generateProxyId(), this.#log);
  }

  /** The id this proxy marks forwarded requests with (`Via: 1.1 <id>`). */
  get proxyId(): string {
    return this.#loopGuard.proxyId;
  }

  /** Upgraded WebSockets open right now. */
  get openWebSockets(): number {
    return this.#ws.open;
  }

  get engineName(): EngineName {
    return this.#config.engine;
  }

  /** Upstream pool state, for tests and diagnostics. */
  engineStats(): EngineStats {
    return this.#engine.stats();
  }

  /** An upstream address left the registry: its pooled connections close once idle. */
  forgetUpstream(address: string): void {
    this.#engine.forget(address);
  }

  /** Client connections the raw HTTP/1.1 listener serves right now (for tests and diagnostics). */
  get rawHttp1Connections(): number {
    let open = 0;
    for (const listener of this.#listeners) open += listener.rawHttp1Connections;
    return open;
  }

  /** Requests being handled right now. */
  get inflight(): number {
    return this.#handler.inflight;
  }

  /** Binds every listener; rejects (and closes what was bound) if one fails. */
  async listen(): Promise<AddressInfo[]> {
    try {
      for (const listener of this.#config.listen) await this.openListener(listener);
    } catch (err) {
      await this.close(0);
      throw err;
    }
    return this.addresses();
  }

  /**
   * Binds one listener next to those open (start, or a reload adding one). Rejects when it
   * cannot bind; nothing else changes then. A TLS listener needs `tls` (or the certificates
   * given at construction).
   */
  async openListener(listener: ListenerConfig, tls: TlsCertificates | undefined = this.#tls): Promise<AddressInfo> {
    if (listener.tls && tls === undefined) {
      throw new WaypostError('startup', 'a listener has tls: true but no certificates are configured (tls.certificates)', { field: 'tls.certificates' });
    }
    const bound = await HttpListener.open({
      listener,
      config: this.#config,
      tls,
      hooks: { onRequest: this.#onRequest, onUpgrade: this.#onUpgrade, onClientError: this.#onClientError, http2: () => this.#http2Server() },
      rawHttp1: this.#rawHttp1Allowed && this.#config.http1Server === 'raw',
      metrics: this.#metrics,
      logger: this.#log,
    });
    this.#tls = tls;
    if (listener.redirect === 'https') this.#anyRedirecting = true;
    this.#listeners.push(bound);
    return bound.address()!;
  }

  /**
   * A reload removed `listener`: it stops accepting now and its connections get `graceMs`
   * to finish (see HttpListener.close). Resolves once it is closed; other listeners keep serving.
   */
  async closeListener(listener: ListenerConfig, graceMs: number): Promise<void> {
    const key = listenerKey(listener);
    const bound = this.#listeners.find((candidate) => listenerKey(candidate.config) === key);
    if (bound === undefined) return;
    this.#listeners.splice(this.#listeners.indexOf(bound), 1);
    await bound.close(graceMs, this.#http2Sessions);
  }

  /** A reloaded configuration: the live limits and client idle timeout apply to new connections on every listener. */
  reconfigure(config: WaypostConfig): void {
    this.#config = config;
    for (const listener of this.#listeners) listener.applyLive(config);
  }

  addresses(): AddressInfo[] {
    return this.#listeners.map((listener) => listener.address()).filter((a): a is AddressInfo => a !== undefined);
  }

  #http2Server(): Http2Server {
    this.#http2 ??= createHttp2Server({
      config: this.#config,
      logger: this.#log,
      clientIdleMs: () => this.#config.timeouts.idle,
      onRequest: this.#onRequest as unknown as Parameters<typeof createHttp2Server>[0]['onRequest'],
      onSession: (session) => {
        this.#http2Sessions.add(session);
        session.once('close', () => this.#http2Sessions.delete(session));
        // A connection that arrives while stopping is told at once to go elsewhere.
        if (this.#closing !== undefined) session.close();
      },
    });
    return this.#http2;
  }

  /**
   * Graceful stop: stop accepting, close idle keep-alive connections, let
   * in-flight requests finish for up to `graceMs`, then cut whatever is left.
   */
  close(graceMs = this.#config.timeouts.grace): Promise<void> {
    this.#closing ??= this.#close(graceMs);
    return this.#closing;
  }

  async #close(graceMs: number): Promise<void> {
    this.#handler.closing = true;
    this.#ws.closing = true;
    const closed = this.#listeners.map((listener) => listener.stopAccepting());
    for (const listener of this.#listeners) listener.closeIdleConnections();
    // HTTP/2: GOAWAY now (no new streams; those open finish), the session closes once they have.
    for (const session of this.#http2Sessions) session.close();
    const deadline = Date.now() + graceMs;
    while ((this.#handler.inflight > 0 || this.#ws.open > 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      // Connections that finished their last request become idle: drop them now.
      for (const listener of this.#listeners) listener.closeIdleConnections();
    }
    if (this.#handler.inflight > 0) this.#log.warn({ inflight: this.#handler.inflight }, 'grace period over; closing connections');
    if (this.#ws.open > 0) {
      // WebSockets had the grace period; now each gets a close frame (1001) and a moment to finish the handshake.
      this.#log.info({ websockets: this.#ws.open }, 'closing open websockets');
      this.#ws.closeAll();
      const closeBy = Date.now() + WEBSOCKET_CLOSE_MS;
      while (this.#ws.open > 0 && Date.now() < closeBy) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    for (const listener of this.#listeners) {
      listener.closeAllConnections();
      // Stops node:http's connection-checking timer (started by the 'listening' it was told).
      listener.http1.close();
    }
    for (const session of this.#http2Sessions) session.destroy();
    for (const listener of this.#listeners) for (const socket of listener.sockets) socket.destroy();
    await Promise.all(closed);
    await this.#engine.close();
  }

  /**
   * Every request, before routing: the request line and Host are made well-formed, then a
   * request that already passed through this proxy (Via) is refused, so a loop never reaches
   * the handler.
   */
  readonly #onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const problem = normalizeRequestTarget(req);
    if (problem !== undefined) {
      // Close the connection: a client that sent an ambiguous request gets no second one on it.
      this.#handler.refuse(req, res, problem, true);
      return;
    }
    if (this.#anyRedirecting && redirectsToHttps(req.socket)) {
      this.#redirectToHttps(req, res);
      return;
    }
    // An unread body of a looping request would be parsed as the next request on this connection.
    if (this.#loopGuard.loops(req)) this.#handler.refuse(req, res, 'loop_detected', this.#handler.unreadBody(req));
    else this.#handler.handle(req, res);
  };

  /** `listen[].redirect: https`: answered here, before routing (policy/redirect.ts says how). */
  #redirectToHttps(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.setHeader('x-request-id', requestIdOf(req));
    const host = normalizeHost(requestAuthority(req));
    // The rest of an unread body would be parsed as the next request.
    const close = req.httpVersionMajor !== 2 && !req.complete && (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined);
    if (!isPlainHost(host)) {
      sendProxyError(res, 'bad_host', close);
      return;
    }
    const location = `https://${host}${req.url ?? '/'}`;
    const body = Buffer.from(redirectBody(location));
    res.writeHead(httpsRedirectStatus(req.method), {
      location,
      'content-type': 'text/plain; charset=utf-8',
      'content-length': body.length,
      // HTTP/2 has no Connection header (stopping sends GOAWAY instead).
      ...(close || (this.#closing !== undefined && req.httpVersionMajor !== 2) ? { connection: 'close' } : {}),
    });
    res.end(body);
  }

  readonly #onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    const problem = normalizeRequestTarget(req);
    if (problem !== undefined) this.#ws.refuse(req, socket, problem);
    else if (this.#loopGuard.loops(req)) this.#ws.refuse(req, socket, 'loop_detected');
    else this.#ws.handleUpgrade(req, socket, head);
  };

  readonly #onClientError = (err: NodeJS.ErrnoException, socket: Duplex): void => {
    // A response already under way cannot be replaced by an error response.
    if ((socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
      socket.destroy();
      return;
    }
    switch (err.code) {
      case 'HPE_HEADER_OVERFLOW':
        writeRawProxyError(socket, 'headers_too_large');
        return;
      case 'ERR_HTTP_REQUEST_TIMEOUT':
        writeRawProxyError(socket, 'request_timeout');
        return;
      case 'ECONNRESET':
        socket.destroy();
        return;
      default:
        writeRawProxyError(socket, 'bad_request');
    }
  };
}

