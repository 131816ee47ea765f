/**
 * HTTP/2 sessions to instances, pooled per address: a stream goes on the first open
 * session with room under the instance's SETTINGS_MAX_CONCURRENT_STREAMS; when every
 * session is full another one is opened (at most MAX_SESSIONS per address, after which
 * streams share the least busy session and nghttp2 queues them).
 *
 * - GOAWAY: the session takes no new streams and leaves the pool at once; streams it
 *   already accepted finish on it.
 * - PING every PING_INTERVAL_MS while open; no answer within PING_TIMEOUT_MS closes it
 *   (a half-dead connection would otherwise swallow streams until their timeouts).
 * - A session idle (no stream) for UPSTREAM_IDLE_TIMEOUT_MS is closed.
 * - forget(address) closes the address's sessions gracefully (the instance left).
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type ClientSessionRequestOptions, type OutgoingHttpHeaders } from 'node:http2';
import { UPSTREAM_IDLE_TIMEOUT_MS, UpstreamTimeoutError, upstreamTimer, type EngineStats } from '../forwarder.js';

/** Sessions per instance address at most. */
const MAX_SESSIONS = 8;
const PING_INTERVAL_MS = 10_000;
const PING_TIMEOUT_MS = 5_000;
/** Assumed until the instance's SETTINGS arrive (RFC 9113 recommends at least 100). */
const DEFAULT_MAX_STREAMS = 100;

type Acquired = (err: Error | undefined, session: PooledSession | undefined) => void;

/** One pooled session and what the pool tracks about it. */
export class PooledSession {
  readonly session: ClientHttp2Session;
  readonly #pingTimer: NodeJS.Timeout;
  connected = false;
  /** Streams open on this session right now. */
  streams = 0;
  /** Callbacks waiting for the connection to be established. */
  readonly waiting: Acquired[] = [];

  constructor(session: ClientHttp2Session, onGone: (pooled: PooledSession) => void) {
    this.session = session;
    session.on('error', () => {}); // reported to each stream; the session just leaves the pool
    session.once('close', () => onGone(this));
    session.once('goaway', () => onGone(this));
    session.setTimeout(UPSTREAM_IDLE_TIMEOUT_MS, () => {
      if (this.streams === 0) session.close();
    });
    this.#pingTimer = setInterval(() => this.#ping(), PING_INTERVAL_MS);
    this.#pingTimer.unref();
    session.once('close', () => clearInterval(this.#pingTimer));
  }

  /** Opens one stream; the pool counts it until it closes. Throws like session.request. */
  request(headers: OutgoingHttpHeaders, options: ClientSessionRequestOptions): ClientHttp2Stream {
    const stream = this.session.request(headers, options);
    this.streams++;
    stream.once('close', () => this.streams--);
    return stream;
  }

  get maxStreams(): number {
    return this.session.remoteSettings?.maxConcurrentStreams ?? DEFAULT_MAX_STREAMS;
  }

  get usable(): boolean {
    return !this.session.closed && !this.session.destroyed && !(this.session as { goawayReceived?: boolean }).goawayReceived;
  }

  #ping(): void {
    if (!this.connected || this.session.closed || this.session.destroyed) return;
    const timer = setTimeout(() => this.session.destroy(), PING_TIMEOUT_MS);
    timer.unref();
    try {
      this.session.ping((err) => {
        clearTimeout(timer);
        if (err) this.session.destroy();
      });
    } catch {
      clearTimeout(timer);
    }
  }
}

export class Http2Sessions {
  readonly #byAddress = new Map<string, PooledSession[]>();

  /** Hands `done` a session for `address` with room for one more stream (opening one if needed). */
  acquire(address: string, tls: boolean, connectTimeoutMs: number, done: Acquired): void {
    const list = this.#byAddress.get(address) ?? [];
    let best: PooledSession | undefined;
    for (const pooled of list) {
      if (!pooled.usable) continue;
      if (pooled.streams < pooled.maxStreams) {
        best = pooled;
        break;
      }
      if (best === undefined || pooled.streams < best.streams) best = pooled;
    }
    const full = best !== undefined && best.streams >= best.maxStreams;
    if (best === undefined || (full && list.length < MAX_SESSIONS)) best = this.#open(address, tls, connectTimeoutMs, list);
    if (best.connected) done(undefined, best);
    else best.waiting.push(done);
  }

  #open(address: string, tls: boolean, connectTimeoutMs: number, list: PooledSession[]): PooledSession {
    const session = http2.connect(`${tls ? 'https' : 'http'}://${address}`, {
      // Our own flow-control window per stream and session: enough for a 10 Gb/s × 1 ms path.
      settings: { enablePush: false, initialWindowSize: 1024 * 1024 },
      ...(tls ? { ALPNProtocols: ['h2'] } : {}),
    });
    const pooled = new PooledSession(session, (gone) => this.#remove(address, gone));
    list.push(pooled);
    this.#byAddress.set(address, list);
    const timer = upstreamTimer(() => fail(new UpstreamTimeoutError('connect_timeout')), connectTimeoutMs, undefined);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      session.destroy();
      for (const waiter of pooled.waiting.splice(0)) waiter(err, undefined);
    };
    session.once('error', fail);
    session.once('connect', () => {
      clearTimeout(timer);
      session.off('error', fail);
      pooled.connected = true;
      session.setLocalWindowSize(4 * 1024 * 1024);
      for (const waiter of pooled.waiting.splice(0)) waiter(undefined, pooled);
    });
    return pooled;
  }

  #remove(address: string, gone: PooledSession): void {
    const list = this.#byAddress.get(address);
    if (list === undefined) return;
    const index = list.indexOf(gone);
    if (index !== -1) list.splice(index, 1);
    if (list.length === 0) this.#byAddress.delete(address);
    // Waiters of a session that closed before connecting get its error through 'error';
    // one that closed cleanly (GOAWAY before connect) still owes them an answer.
    for (const waiter of gone.waiting.splice(0)) waiter(Object.assign(new Error('upstream session closed'), { code: 'ECONNRESET' }), undefined);
  }

  stats(): EngineStats {
    let sockets = 0;
    for (const list of this.#byAddress.values()) sockets += list.length;
    return { sockets, pending: 0 };
  }

  forget(address: string): void {
    const list = this.#byAddress.get(address);
    if (list === undefined) return;
    this.#byAddress.delete(address);
    for (const pooled of list) pooled.session.close();
  }

  async close(): Promise<void> {
    const all = [...this.#byAddress.values()].flat();
    this.#byAddress.clear();
    await Promise.all(
      all.map(
        (pooled) =>
          new Promise<void>((resolve) => {
            if (pooled.session.closed || pooled.session.destroyed) return resolve();
            pooled.session.once('close', () => resolve());
            pooled.session.destroy();
          }),
      ),
    );
  }
}
