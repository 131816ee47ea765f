/**
 * Engine 1: the `http-proxy` package (the named dependency). We use it for the
 * request side only (`selfHandleResponse`) so both engines write the client
 * response the same way, and we add what it lacks: connect and header timeouts,
 * and freeing the upstream request when the client goes away (http-proxy only
 * listens for `req 'aborted'`, which recent Node no longer emits once the
 * request body was read, so an aborted download would keep its upstream socket).
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { createRequire } from 'node:module';
import type httpProxy from 'http-proxy';
import type { Endpoint } from '../../endpoint.js';
import {
  MAX_UPSTREAM_CONNECTIONS,
  UPSTREAM_IDLE_TIMEOUT_MS,
  UpstreamProtocolError,
  UpstreamTimeoutError,
  isForwardableStatus,
  upstreamErrorReason,
  upstreamTimer,
  type AttemptOptions,
  type AttemptResult,
  type EngineStats,
  type ForwardEngine,
} from '../forwarder.js';

/** Idle sockets kept per endpoint (the rest close once idle). */
const MAX_FREE_SOCKETS = 64;

/** Our per-call option: http-proxy hands the call's options back with its `proxyReq` event. */
interface AttemptServerOptions extends httpProxy.ServerOptions {
  waypostAttempt: HttpProxyAttempt;
}

export class HttpProxyEngine implements ForwardEngine {
  readonly name = 'http-proxy' as const;
  readonly #agents = new Map<string, http.Agent>();
  /** Agents of forgotten addresses whose sockets are still busy (counted in stats until they close). */
  readonly #retiring = new Set<http.Agent>();
  /** http-proxy is loaded only when this engine is chosen (undici is the default). */
  readonly #proxy = (createRequire(import.meta.url)('http-proxy') as typeof httpProxy).createProxyServer({
    xfwd: false,
    selfHandleResponse: true,
    ws: false,
  });

  constructor() {
    // http-proxy reports the upstream request on the server object, with the call's options;
    // the attempt rides on those options, so a late event can never reach a newer attempt.
    this.#proxy.on('proxyReq', (proxyReq, _req, _res, options) =>
      (options as AttemptServerOptions).waypostAttempt?.onProxyReq(proxyReq),
    );
    // Every call passes a callback, so this only guards against an unexpected emit.
    this.#proxy.on('error', () => {});
  }

  forward(req: IncomingMessage, res: ServerResponse, endpoint: Endpoint, attempt: AttemptOptions): Promise<AttemptResult> {
    return new Promise((resolve) => {
      const state = new HttpProxyAttempt(res, attempt, resolve);
      if (state.done) return;
      // http-proxy builds the upstream path from req.url and the headers from req.headers.
      req.url = attempt.path;
      // An HTTP/2 compat request's `headers` has no setter: an own property shadows it.
      if (req.httpVersionMajor === 2) Object.defineProperty(req, 'headers', { value: attempt.headers, writable: true, configurable: true });
      else req.headers = attempt.headers;
      const { host, port } = endpoint.instance;
      const options: AttemptServerOptions = {
        target: { host, port },
        agent: this.#agent(endpoint.address),
        waypostAttempt: state,
      };
      if (attempt.body !== undefined) options.buffer = Readable.from([attempt.body]);
      this.#proxy.web(req, res, options, (err) => state.onError(err));
    });
  }

  stats(): EngineStats {
    this.#pruneRetiring();
    let sockets = 0;
    let pending = 0;
    for (const agent of [...this.#agents.values(), ...this.#retiring]) {
      const use = agentUse(agent);
      sockets += use.sockets;
      pending += use.pending;
    }
    return { sockets, pending };
  }

  forget(address: string): void {
    this.#pruneRetiring();
    const agent = this.#agents.get(address);
    if (agent === undefined) return;
    this.#agents.delete(address);
    // A socket whose exchange ends is then destroyed instead of kept for reuse (no free slot left).
    agent.maxFreeSockets = 0;
    for (const list of Object.values(agent.freeSockets)) for (const socket of list ?? []) socket.destroy();
    const use = agentUse(agent);
    if (use.sockets + use.pending > 0) this.#retiring.add(agent);
  }

  async close(): Promise<void> {
    for (const agent of [...this.#agents.values(), ...this.#retiring]) agent.destroy();
    this.#agents.clear();
    this.#retiring.clear();
    this.#proxy.close();
  }

  /** Forgotten agents are dropped once their last socket has closed. */
  #pruneRetiring(): void {
    for (const agent of this.#retiring) {
      const use = agentUse(agent);
      if (use.sockets + use.pending === 0) this.#retiring.delete(agent);
    }
  }

  #agent(address: string): http.Agent {
    let agent = this.#agents.get(address);
    if (agent === undefined) {
      agent = new http.Agent({
        keepAlive: true,
        maxSockets: MAX_UPSTREAM_CONNECTIONS,
        maxFreeSockets: MAX_FREE_SOCKETS,
        timeout: UPSTREAM_IDLE_TIMEOUT_MS,
        scheduling: 'lifo',
      });
      this.#agents.set(address, agent);
    }
    return agent;
  }
}

/** Open sockets (busy and idle) and queued requests of one agent. */
function agentUse(agent: http.Agent): EngineStats {
  let sockets = 0;
  let pending = 0;
  for (const list of Object.values(agent.sockets)) sockets += list?.length ?? 0;
  for (const list of Object.values(agent.freeSockets)) sockets += list?.length ?? 0;
  for (const list of Object.values(agent.requests)) pending += list?.length ?? 0;
  return { sockets, pending };
}

/** One attempt's timers and outcome; resolves exactly once. */
class HttpProxyAttempt {
  done = false;
  readonly #res: ServerResponse;
  readonly #attempt: AttemptOptions;
  readonly #resolve: (result: AttemptResult) => void;
  readonly #started = performance.now();
  #proxyReq: http.ClientRequest | undefined;
  #timer: NodeJS.Timeout | undefined;
  #failure: UpstreamTimeoutError | undefined;
  #status = 0;
  #upstreamMs = 0;
  #sent = false;

  constructor(res: ServerResponse, attempt: AttemptOptions, resolve: (r: AttemptResult) => void) {
    this.#res = res;
    this.#attempt = attempt;
    this.#resolve = resolve;
    res.on('close', this.#onClientClose);
    this.#timer = upstreamTimer(this.#onTimeout, attempt.timeouts.connect, 'connect_timeout');
    if (attempt.signal !== undefined) {
      if (attempt.signal.aborted) this.finishAborted();
      else attempt.signal.addEventListener('abort', this.#onSignal, { once: true });
    }
  }

  onProxyReq(proxyReq: http.ClientRequest): void {
    this.#proxyReq = proxyReq;
    if (this.done || this.#failure) {
      proxyReq.destroy();
      return;
    }
    // Socket inactivity in either direction while the exchange is open.
    proxyReq.setTimeout(this.#attempt.timeouts.idle, this.#onIdle);
    proxyReq.once('response', (proxyRes: IncomingMessage) => this.#onProxyRes(proxyRes));
    // A 101 to a request that asked for no upgrade: without a listener node:http keeps the socket and the attempt hangs.
    proxyReq.once('upgrade', (_res: IncomingMessage, socket: Socket) => {
      socket.destroy();
      this.onError(new UpstreamProtocolError(101));
    });
    const socket = proxyReq.socket as Socket | null;
    if (socket?.connecting) socket.once('connect', this.#onConnect);
    else this.#onConnect();
  }

  #onProxyRes(proxyRes: IncomingMessage): void {
    if (this.done) {
      proxyRes.destroy();
      return;
    }
    clearTimeout(this.#timer);
    const status = proxyRes.statusCode ?? 0;
    if (!isForwardableStatus(status)) {
      // Nothing was sent yet: the attempt fails as a protocol error and the client gets a 502.
      proxyRes.destroy();
      this.onError(new UpstreamProtocolError(status));
      return;
    }
    this.#upstreamMs = performance.now() - this.#started;
    this.#status = status;
    const sink = this.#attempt.writeHead(this.#status, proxyRes.rawHeaders);
    proxyRes.on('error', (err) => this.onError(err));
    proxyRes.on('aborted', () => this.onError(this.#failure ?? Object.assign(new Error('upstream aborted'), { code: 'ECONNRESET' })));
    if (sink === undefined) {
      // Refused: read the body to its end and drop it (the socket stays reusable).
      proxyRes.once('end', this.#onFinish);
      proxyRes.resume();
      return;
    }
    this.#sent = true;
    this.#res.once('finish', this.#onFinish);
    proxyRes.pipe(sink);
  }

  onError(err: unknown): void {
    if (this.done) return;
    if (this.#clientGone()) {
      this.finishAborted();
      return;
    }
    const reason = upstreamErrorReason(this.#failure ?? err);
    this.#proxyReq?.destroy();
    // Once the head is out the client must see a broken response, not a clean end.
    if (this.#sent) this.#res.destroy();
    this.#finish(reason, false);
  }

  finishAborted(): void {
    if (this.done) return;
    this.#proxyReq?.destroy();
    this.#finish(undefined, true);
  }

  #clientGone(): boolean {
    return this.#res.destroyed && !this.#res.writableFinished;
  }

  #finish(error: AttemptResult['error'], aborted: boolean): void {
    this.done = true;
    clearTimeout(this.#timer);
    this.#res.off('close', this.#onClientClose);
    this.#res.off('finish', this.#onFinish);
    this.#attempt.signal?.removeEventListener('abort', this.#onSignal);
    this.#resolve({ status: this.#status, sent: this.#sent, error, aborted, upstreamMs: this.#upstreamMs });
  }

  readonly #onConnect = (): void => {
    clearTimeout(this.#timer);
    if (this.done) return;
    const proxyReq = this.#proxyReq!;
    // The header timeout runs from the moment the request is fully sent.
    if (proxyReq.writableFinished) this.#startHeaderTimer();
    else proxyReq.once('finish', this.#startHeaderTimer);
  };

  readonly #startHeaderTimer = (): void => {
    if (this.done || this.#status !== 0) return;
    this.#timer = upstreamTimer(this.#onTimeout, this.#attempt.timeouts.header, 'header_timeout');
  };

  readonly #onTimeout = (reason: 'connect_timeout' | 'header_timeout'): void => {
    this.#failure = new UpstreamTimeoutError(reason);
    if (this.#proxyReq) this.onError(this.#failure);
    else this.#finish(reason, false); // still queued for a socket: onProxyReq destroys it later
  };

  readonly #onIdle = (): void => {
    this.#failure ??= new UpstreamTimeoutError('idle_timeout');
    this.onError(this.#failure);
  };

  readonly #onFinish = (): void => {
    if (!this.done) this.#finish(undefined, false);
  };

  readonly #onClientClose = (): void => {
    if (!this.#res.writableFinished) this.finishAborted();
  };

  readonly #onSignal = (): void => this.finishAborted();
}
