/**
 * The data path of one process: the HTTP listeners (with TLS termination), the TCP
 * listeners, the access log and tracing, started from a configuration and changed in place by a
 * reload (src/app-reload.ts). A reload first does everything that can fail (read the
 * certificates, bind the new addresses) and changes nothing if one of them does; then it
 * swaps what new connections and requests use in a few assignments, and closes removed
 * listeners gracefully. Listeners whose configuration did not change are never touched,
 * so their connections (requests, WebSockets, TCP tunnels, HTTP/2 streams) run on.
 */
import { createAccessLog, type AccessLog } from './access-log.js';
import { listenerKey, tcpListenerKey } from './config/reload.js';
import type { TcpListenerConfig, WaypostConfig } from './config/schema.js';
import type { OutcomeListener } from './endpoint.js';
import { describeError, startupError } from './errors.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { formatHostPort, type HostPort as Address } from './net/address.js';
import type { ConnectionTracker } from './proxy/connection-tracker.js';
import type { EngineStats } from './proxy/forwarder.js';
import type { ListenerConfig } from './proxy/http-listener.js';
import { HttpProxyServer } from './proxy/http-server.js';
import type { TcpProxyServer } from './proxy/tcp.js';
import { TlsCertificates } from './proxy/tls.js';
import type { Router } from './routing/route.js';
import type { EndpointSetSource, ServiceSource } from './routing/table.js';
import { createTracing, type Tracing } from './tracing/tracing.js';

export interface DataPathOptions {
  router: Router;
  connections: ConnectionTracker;
  proxyId: string;
  metrics: Metrics;
  logger: Logger;
  /** Passive outlier detection; undefined when it is off. */
  outcomes: OutcomeListener | undefined;
  services: ServiceSource;
  endpointSets: EndpointSetSource;
}

export class DataPath {
  readonly #o: DataPathOptions;
  #http: HttpProxyServer | undefined;
  /** By tcpListenerKey: a reload names listeners by their configuration, not by object. */
  readonly #tcp = new Map<string, TcpProxyServer>();
  #tls: TlsCertificates | undefined;
  #accessLog: AccessLog | undefined;
  /** Built once at start (`tracing` needs a restart to change: config/reload.ts). */
  #tracing: Tracing | undefined;
  /** Removed listeners still draining: stop() waits for them too. */
  readonly #draining = new Set<Promise<void>>();

  constructor(options: DataPathOptions) {
    this.#o = options;
  }

  /** Binds every listener of `config`; throws WaypostError('startup') naming what failed. */
  async start(config: WaypostConfig): Promise<{ http: Address[]; tcp: Address[] }> {
    const log = this.#o.logger;
    if (config.listen.some((listener) => listener.tls)) {
      try {
        this.#tls = new TlsCertificates({ tls: config.tls, logger: log });
      } catch (err) {
        throw startupError('cannot load the TLS certificates', err);
      }
    }
    this.#accessLog = createAccessLog(config.accessLog, log);
    const accessLogOn = this.#accessLog !== undefined;
    this.#tracing = await createTracing(config.tracing, this.#o.metrics, log);
    this.#http = new HttpProxyServer({
      config,
      router: this.#o.router,
      engine: config.engine,
      connections: this.#o.connections,
      proxyId: this.#o.proxyId,
      ...(this.#tls ? { tls: this.#tls } : {}),
      metrics: this.#o.metrics,
      logger: log,
      ...(this.#o.outcomes ? { outcomes: this.#o.outcomes } : {}),
      // Read per request: a reload may point the log somewhere else (on/off needs a restart, see config/reload.ts).
      ...(accessLogOn ? { onAccessLog: (entry) => this.#accessLog?.write(entry) } : {}),
      tracing: this.#tracing,
    });
    try {
      await this.#http.listen();
    } catch (err) {
      throw startupError('cannot bind the HTTP listener', err);
    }
    for (const [index, listener] of config.tcp.entries()) {
      try {
        await this.#openTcp(listener);
      } catch (err) {
        throw startupError(`cannot bind tcp[${index}] listener`, err);
      }
    }
    return this.addresses();
  }

  addresses(): { http: Address[]; tcp: Address[] } {
    const http = (this.#http?.addresses() ?? []).map(({ address, port }) => ({ host: address, port }));
    const tcp = [...this.#tcp.values()].map((server) => {
      const { address, port } = server.address();
      return { host: address, port };
    });
    return { http, tcp };
  }

  get engineName(): string | undefined {
    return this.#http?.engineName;
  }

  /**
   * Moves the data path from `current` to `next` (both validated; restart-only fields
   * equal). Throws WaypostError('startup') and leaves everything as it was when a
   * certificate cannot be loaded or a new address cannot be bound. `commit` runs at the
   * moment of the swap, so the caller's parts (the route table) change together with these.
   */
  async reconfigure(current: WaypostConfig, next: WaypostConfig, commit: () => void): Promise<void> {
    const http = this.#http;
    if (http === undefined) return commit();
    const log = this.#o.logger;
    // 1. What can fail, while nothing has changed yet.
    const wantsTls = next.listen.some((listener) => listener.tls);
    let tls = this.#tls;
    let commitTls = (): void => {};
    try {
      // Without a TLS listener the certificates are not needed (nor read): the old set stays, unused.
      if (wantsTls && tls !== undefined) commitTls = tls.prepare(next.tls);
      else if (wantsTls) tls = new TlsCertificates({ tls: next.tls, logger: log });
    } catch (err) {
      throw startupError('cannot load the TLS certificates', err);
    }
    const listeners = diff(current.listen, next.listen, listenerKey, (l) => l.address);
    const tcpListeners = diff(current.tcp, next.tcp, tcpListenerKey, (l) => l.listen);
    const opened: ListenerConfig[] = [];
    const openedTcp: TcpListenerConfig[] = [];
    try {
      for (const listener of listeners.addedNow) opened.push(await bindOrExplain(http.openListener(listener, tls), listener.address, listener));
      for (const listener of tcpListeners.addedNow) openedTcp.push(await bindOrExplain(this.#openTcp(listener), listener.listen, listener));
    } catch (err) {
      await Promise.all([...opened.map((l) => http.closeListener(l, 0)), ...openedTcp.map((l) => this.#closeTcp(l, 0))]);
      if (tls !== this.#tls) tls?.close();
      throw err;
    }
    // 2. The swap: new handshakes, connections, requests and log lines use `next` from here on.
    commit();
    commitTls();
    this.#tls = tls;
    http.reconfigure(next);
    if (next.accessLog !== current.accessLog) {
      const previous = this.#accessLog;
      this.#accessLog = createAccessLog(next.accessLog, log);
      void previous?.close();
    } else this.#accessLog?.reopen();
    // 3. Removed listeners stop accepting now and drain in the background; one changed in place is bound again.
    const grace = next.timeouts.grace;
    for (const listener of listeners.removed) this.#drain(http.closeListener(listener, grace));
    for (const listener of tcpListeners.removed) this.#drain(this.#closeTcp(listener, grace));
    const failed: string[] = [];
    for (const listener of listeners.addedAfterClose) {
      await http.openListener(listener, tls).catch((err: unknown) => failed.push(`${formatHostPort(listener.address)}: ${describeError(err)}`));
    }
    for (const listener of tcpListeners.addedAfterClose) {
      await this.#openTcp(listener).catch((err: unknown) => failed.push(`${formatHostPort(listener.listen)}: ${describeError(err)}`));
    }
    if (failed.length > 0) {
      log.error({ failed }, 'reload: a changed listener could not be bound again on its address');
      throw startupError('reload applied, but a changed listener could not be bound again', new Error(failed.join('; ')));
    }
  }

  /** SIGHUP without a config file: reopen the access log after it was rotated away. */
  reopenLogs(): void {
    this.#accessLog?.reopen();
  }

  /** An upstream address left the registry: its pooled connections close once idle. */
  forgetUpstream(address: string): void {
    this.#http?.forgetUpstream(address);
  }

  upstreamStats(): EngineStats | undefined {
    return this.#http?.engineStats();
  }

  /** Graceful: every listener stops accepting and drains within `graceMs`, then the access log and the span queue are flushed. */
  async close(graceMs: number): Promise<void> {
    await Promise.all([this.#http?.close(graceMs), ...[...this.#tcp.values()].map((tcp) => tcp.close(graceMs)), ...this.#draining]);
    this.#tls?.close();
    // The access log and the span queue buffer; what they hold must leave before the process exits.
    await Promise.all([this.#accessLog?.close(), this.#tracing?.shutdown().catch(() => {})]);
  }

  async #openTcp(listener: TcpListenerConfig): Promise<TcpListenerConfig> {
    const { outcomes } = this.#o;
    // The TCP proxy loads with the first `tcp` listener (idle memory).
    const { TcpProxyServer } = await import('./proxy/tcp.js');
    const tcp = new TcpProxyServer({
      listener,
      services: this.#o.services,
      endpointSets: this.#o.endpointSets,
      metrics: this.#o.metrics,
      logger: this.#o.logger,
      connections: this.#o.connections,
      // Failed connects count toward ejection like HTTP gateway errors.
      ...(outcomes ? { outcomes } : {}),
    });
    await tcp.listen();
    this.#tcp.set(tcpListenerKey(listener), tcp);
    return listener;
  }

  async #closeTcp(listener: TcpListenerConfig, graceMs: number): Promise<void> {
    const key = tcpListenerKey(listener);
    const tcp = this.#tcp.get(key);
    this.#tcp.delete(key);
    await tcp?.close(graceMs);
  }

  #drain(closing: Promise<void>): void {
    const tracked = closing.catch((err: unknown) => this.#o.logger.warn({ err: describeError(err) }, 'closing a removed listener failed'));
    this.#draining.add(tracked);
    void tracked.finally(() => this.#draining.delete(tracked));
  }
}

/** Listeners a reload adds and removes. One whose address a removed listener still holds is bound after that one closed. */
function diff<T>(before: readonly T[], after: readonly T[], key: (item: T) => string, address: (item: T) => Address) {
  const kept = new Set(before.map(key));
  const next = new Set(after.map(key));
  const removed = before.filter((item) => !next.has(key(item)));
  const held = new Set(removed.map((item) => formatHostPort(address(item))).filter((a) => !a.endsWith(':0')));
  const added = after.filter((item) => !kept.has(key(item)));
  return {
    removed,
    addedNow: added.filter((item) => !held.has(formatHostPort(address(item)))),
    addedAfterClose: added.filter((item) => held.has(formatHostPort(address(item)))),
  };
}

async function bindOrExplain<T>(binding: Promise<unknown>, address: Address, item: T): Promise<T> {
  try {
    await binding;
  } catch (err) {
    throw startupError(`cannot bind the new listener ${formatHostPort(address)}`, err);
  }
  return item;
}
