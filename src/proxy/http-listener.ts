/**
 * One HTTP listen address of the data path (`listen[]`): the accepting socket
 * (protocol-listener.ts), its own node:http server for HTTP/1.1 and the connections it
 * accepted. Each listener can be opened and closed alone, so a configuration reload
 * adds or removes one without touching the others (http-server.ts owns the set).
 */
import http from 'node:http';
import type { Http2Server, ServerHttp2Session } from 'node:http2';
import type { AddressInfo, Server, Socket } from 'node:net';
import type tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { WaypostConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { createProtocolListener } from './protocol-listener.js';
import { RawHttp1Connections, type RawHttp1Limits } from './raw-http1/connection.js';
import type { TlsCertificates } from './tls.js';

export type ListenerConfig = WaypostConfig['listen'][number];

/** The whole request (headers and body) must arrive within this; Node's own default. */
const REQUEST_TIMEOUT_MS = 300_000;
/**
 * Client keep-alive: Node's 5 s, also sent to clients as `Keep-Alive: timeout=5` so their pools
 * stop reusing a connection before it is closed.
 */
const KEEP_ALIVE_TIMEOUT_MS = 5_000;

export interface HttpListenerHooks {
  onRequest: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  onUpgrade: (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;
  onClientError: (err: NodeJS.ErrnoException, socket: Duplex) => void;
  /** The shared HTTP/2 server (created on first use). */
  http2: () => Http2Server;
}

export interface HttpListenerOptions {
  listener: ListenerConfig;
  /** `limits` and `timeouts` as they are when the listener opens. */
  config: Pick<WaypostConfig, 'limits' | 'timeouts'>;
  /** Present when the listener has `tls: true`. */
  tls: TlsCertificates | undefined;
  hooks: HttpListenerHooks;
  /**
   * HTTP/1.1 connections start on the raw listener (raw-http1/connection.ts), which hands a
   * connection to node:http at its first request it does not serve itself; false = node:http only.
   */
  rawHttp1: boolean;
  metrics: Metrics;
  logger: Logger;
}

/**
 * Marks connections accepted on a `redirect: https` listener. A mark on the socket reaches
 * HTTP/2 requests too: their `req.socket` is a proxy that reads the session socket's properties.
 */
const REDIRECTS_TO_HTTPS = Symbol('waypost.redirectsToHttps');
type MarkedSocket = Socket & { [REDIRECTS_TO_HTTPS]?: true };

/** The connection came in on a listener with `redirect: https`. */
export function redirectsToHttps(socket: Socket): boolean {
  return (socket as MarkedSocket)[REDIRECTS_TO_HTTPS] === true;
}

/** A bound listener; `sockets` are the client connections it accepted and that are still open. */
export class HttpListener {
  readonly config: ListenerConfig;
  readonly socket: Server;
  readonly http1: http.Server;
  /** Connections on the raw HTTP/1.1 listener (not yet handed to node:http); undefined = off. */
  readonly #raw: RawHttp1Connections | undefined;
  readonly sockets = new Set<Socket>();
  readonly #tls: TlsCertificates | undefined;
  #closing: Promise<void> | undefined;

  private constructor(options: HttpListenerOptions) {
    const { listener, config, hooks } = options;
    const { limits, timeouts } = config;
    this.config = listener;
    this.#tls = listener.tls ? options.tls : undefined;
    const serverOptions: http.ServerOptions = {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeout,
      requestTimeout: Math.max(REQUEST_TIMEOUT_MS, limits.headersTimeout),
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      // Node checks header/request timeouts on this interval; the default (30 s) is too coarse for a 408.
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(limits.headersTimeout / 4))),
    };
    const http1 = http.createServer(serverOptions, hooks.onRequest);
    http1.on('upgrade', hooks.onUpgrade);
    http1.on('clientError', hooks.onClientError);
    // node:http starts its connection tracking (header/request timeouts → 408, closeIdleConnections)
    // when it listens; it never listens itself here, so it is told.
    http1.emit('listening');
    this.http1 = http1;
    const checkEveryMs = serverOptions.connectionsCheckingInterval!;
    this.#raw = options.rawHttp1
      ? new RawHttp1Connections(
          {
            onRequest: hooks.onRequest,
            onClientError: hooks.onClientError,
            handOff: (socket) => http1.emit('connection', socket),
          },
          rawLimits(config),
          checkEveryMs,
        )
      : undefined;
    const raw = this.#raw;
    const wantsHttp2 = listener.protocols.some((protocol) => protocol !== 'http1');
    this.socket = createProtocolListener({
      http1: raw === undefined ? (socket) => http1.emit('connection', socket) : (socket) => raw.accept(socket),
      http2: wantsHttp2 ? hooks.http2() : undefined,
      allowHttp1: listener.protocols.includes('http1'),
      firstBytesTimeoutMs: limits.headersTimeout,
      ...(this.#tls ? { tls: this.#tls.serverOptions() } : {}),
    });
    if (this.#tls) {
      this.#tls.attach(this.socket as tls.Server);
      // Failed handshakes (scanners, old clients) are the client's problem, not ours: debug only.
      this.socket.on('tlsClientError', (err: Error) => options.logger.debug({ err }, 'tls handshake failed'));
    }
    this.applyLive(config);
    const active = options.metrics.activeConnections.labels(listener.tls ? 'https' : 'http');
    const redirecting = listener.redirect === 'https';
    this.socket.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      if (redirecting) (socket as MarkedSocket)[REDIRECTS_TO_HTTPS] = true;
      active.inc();
      socket.once('close', () => {
        this.sockets.delete(socket);
        active.dec();
      });
    });
  }

  /** Creates and binds a listener; rejects (leaving nothing open) when the address cannot be bound. */
  static async open(options: HttpListenerOptions): Promise<HttpListener> {
    const bound = new HttpListener(options);
    const { host, port } = options.listener.address;
    try {
      await new Promise<void>((resolve, reject) => {
        bound.socket.once('error', reject);
        bound.socket.listen(port, host, () => {
          bound.socket.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      bound.http1.close();
      bound.#detach();
      throw err;
    }
    bound.socket.on('error', (err) => options.logger.error({ err }, 'http listener error'));
    return bound;
  }

  /** The settings a reload changes on an open listener; they apply to connections accepted from now on. */
  applyLive(config: Pick<WaypostConfig, 'limits' | 'timeouts'>): void {
    // Client socket inactivity (the client side of the idle timeout).
    this.http1.timeout = config.timeouts.idle;
    if (this.#raw !== undefined) this.#raw.limits = rawLimits(config);
    this.socket.maxConnections = config.limits.maxConnections > 0 ? config.limits.maxConnections : Infinity;
  }

  address(): AddressInfo | undefined {
    const address = this.socket.address();
    return typeof address === 'object' && address !== null ? address : undefined;
  }

  /** Connections the raw HTTP/1.1 listener serves right now (not handed to node:http). */
  get rawHttp1Connections(): number {
    return this.#raw?.size ?? 0;
  }

  /** Closes the connections between requests (node:http's and the raw listener's). */
  closeIdleConnections(): void {
    this.http1.closeIdleConnections();
    this.#raw?.closeIdle();
  }

  /** Closes every connection, requests in flight or not. */
  closeAllConnections(): void {
    this.http1.closeAllConnections();
    this.#raw?.closeAll();
  }

  /** Stops accepting at once; the returned promise settles when the socket no longer listens. */
  stopAccepting(): Promise<void> {
    this.#detach();
    return new Promise<void>((resolve) => (this.socket.listening ? this.socket.close(() => resolve()) : resolve()));
  }

  /**
   * A listener removed by a reload: stop accepting, send HTTP/2 clients GOAWAY, close
   * keep-alive connections as they become idle, and give what is left (long requests,
   * WebSockets) `graceMs` before it is cut. The other listeners are not touched.
   */
  close(graceMs: number, http2Sessions: ReadonlySet<ServerHttp2Session>): Promise<void> {
    this.#closing ??= this.#close(graceMs, http2Sessions);
    return this.#closing;
  }

  async #close(graceMs: number, http2Sessions: ReadonlySet<ServerHttp2Session>): Promise<void> {
    const port = this.address()?.port;
    const closed = this.stopAccepting();
    // The shared HTTP/2 server does not know listeners; a session belongs to the port it came in on.
    for (const session of http2Sessions) if (session.socket?.localPort === port) session.close();
    const deadline = Date.now() + graceMs;
    this.closeIdleConnections();
    while (this.sockets.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      this.closeIdleConnections();
    }
    this.closeAllConnections();
    this.http1.close();
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  #detach(): void {
    this.#tls?.detach(this.socket as tls.Server);
  }
}

/** The raw listener's limits: node:http's for the same configuration (see the constructor). */
function rawLimits(config: Pick<WaypostConfig, 'limits' | 'timeouts'>): RawHttp1Limits {
  return {
    maxHeaderBytes: config.limits.maxHeaderBytes,
    headersTimeout: config.limits.headersTimeout,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    idleTimeout: config.timeouts.idle,
    requestTimeout: Math.max(REQUEST_TIMEOUT_MS, config.limits.headersTimeout),
  };
}
