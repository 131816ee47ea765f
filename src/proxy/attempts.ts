/**
 * The one attempt loop of HTTP, WebSocket and TCP: send to the picked
 * endpoint → report the outcome → on a failure the retry rule allows, mark the
 * endpoint tried and pick again through the route, until an attempt answers,
 * the rule says stop, or no untried endpoint is left.
 *
 * A protocol supplies only an Exchange (one object per request or connection):
 * how one attempt is sent, whether another could still be sent, which of its
 * failures leave the instance untouched. The retry rule is the route's `retries`
 * (short form: connect failures and resets) or its `retry` policy (failures,
 * status codes, budget, backoff: src/policy/retry-policy.ts). A status-code retry
 * is decided by the HTTP exchange's writeHead before anything reaches the client
 * (planRetry below); the loop then sends it like any other.
 *
 * With a `concurrency` limit every attempt holds a slot on its instance: the
 * first one's is taken by admission.ts, a retry's when its instance is picked,
 * and the loop frees each when its attempt is over.
 */
import type { PickContext } from '../balancer/policy.js';
import { wasTried } from '../balancer/tried.js';
import type { Endpoint, OutcomeListener } from '../endpoint.js';
import type { UpstreamErrorReason } from '../metrics.js';
import type { RoutePolicy } from '../policy/chain.js';
import type { ConcurrencyLimit } from '../policy/concurrency.js';
import type { RetryPolicy } from '../policy/retry-policy.js';
import { isRetryable } from './retry.js';
import type { ServiceMetrics } from './service-metrics.js';

/** What the loop reads from one attempt's result (HTTP's AttemptResult has exactly this shape). */
export interface AttemptReport {
  /** Upstream status code; 0 when no response head arrived, or the protocol has none (TCP). */
  readonly status: number;
  /** Bytes of the answer already reached the client: the attempt can no longer be replaced. */
  readonly sent: boolean;
  /** Why the attempt failed; undefined when the upstream answered or the client went away. */
  readonly error: UpstreamErrorReason | undefined;
  /** The client went away: no outcome is reported (not the instance's fault) and nothing is retried. */
  readonly aborted: boolean;
}

/** The routing side of the loop: a RouteMatch (HTTP, WebSocket) or a TCP listener's ServiceRoute. */
export interface AttemptRoute {
  /** Further attempts allowed after the first (the short form; a `retry` policy replaces it). */
  readonly retries: number;
  /** The route's policy chain: its `retry` and `concurrency` parts act here. */
  readonly policy?: RoutePolicy | undefined;
  pick(ctx: PickContext): Endpoint | undefined;
}

/** A PickContext that remembers the endpoints already tried (balancers skip them). */
export interface RetryPickContext extends PickContext {
  readonly tried: readonly Endpoint[];
  addTried(endpoint: Endpoint): void;
  /** Keeps only the first `count` tried endpoints. */
  forgetTried(count: number): void;
}

/**
 * The route's pick among endpoints not tried yet; with a concurrency limit, among those
 * with a free slot too (full ones are skipped like tried ones), and the slot is taken.
 * Picks again only while the balancer offers full instances: at most once per instance.
 */
export function pickUntried(route: AttemptRoute, ctx: RetryPickContext, slots: ConcurrencyLimit | undefined): Endpoint | undefined {
  if (slots === undefined) {
    const next = route.pick(ctx);
    return next === undefined || wasTried(next, ctx) ? undefined : next;
  }
  const mark = ctx.tried.length;
  let next: Endpoint | undefined;
  for (;;) {
    next = route.pick(ctx);
    if (next === undefined || wasTried(next, ctx)) {
      next = undefined;
      break;
    }
    if (slots.tryAcquire(next)) break;
    ctx.addTried(next);
  }
  ctx.forgetTried(mark);
  return next;
}

/** One request (or connection) of one protocol, as the loop drives it. */
export abstract class Exchange<R extends AttemptReport> {
  /** The endpoint of the latest attempt (set by the loop before each send). */
  endpoint: Endpoint | undefined = undefined;
  /** Attempts sent after the first. */
  retries = 0;
  /** The next attempt's endpoint once a retry is decided (its slot and retry token taken). */
  next: Endpoint | undefined = undefined;
  /** The route's `retry` policy; undefined = the `retries` short form. */
  readonly retryPolicy: RetryPolicy | undefined;
  /** Slots per instance the attempts hold (HTTP requests only; tunnels are not limited). */
  readonly slots: ConcurrencyLimit | undefined = undefined;
  /** The request may be repeated after an instance may have processed it (idempotent method, or `retry.unsafe`). */
  readonly replaySafe: boolean = true;
  #holdsToken = false;
  #nextHoldsToken = false;

  constructor(
    readonly route: AttemptRoute,
    readonly ctx: RetryPickContext,
    readonly metrics: ServiceMetrics,
    /** Count each attempt in `endpoint.stats.inflight` while it runs (HTTP); tunnels are counted by the ConnectionTracker. */
    readonly countsInflight: boolean,
  ) {
    this.retryPolicy = route.policy?.retry;
  }

  /** Sends one attempt to `endpoint`; resolves when its outcome is known, never rejects. */
  abstract send(endpoint: Endpoint): Promise<R>;

  /** Whether another attempt could be sent at all: the request body can be replayed, the client is still there. */
  abstract canResend(): boolean;

  /** Failures after which the instance never took the request, so another one may (retry.ts by default). */
  readonly retryable: (reason: UpstreamErrorReason) => boolean = isRetryable;

  /** Emits `close` when the client goes away (ends a backoff early); undefined = the backoff runs out. */
  clientCloses(): NodeJS.EventEmitter | undefined {
    return undefined;
  }

  /** The client went away: nothing more is sent. */
  clientGone(): boolean {
    return false;
  }

  /**
   * Decides a retry of the current attempt: attempts left, an untried instance (with a free
   * slot) to pick, a token of the route's retry budget. true: `next` is where it goes.
   */
  planRetry(): boolean {
    const retry = this.retryPolicy;
    if (this.retries >= (retry === undefined ? this.route.retries : retry.attempts)) return false;
    this.ctx.addTried(this.endpoint!);
    const next = pickUntried(this.route, this.ctx, this.slots);
    if (next === undefined) return false;
    if (retry !== undefined && !retry.budget.tryStartRetry()) {
      this.slots?.release(next);
      return false;
    }
    this.next = next;
    this.#nextHoldsToken = retry !== undefined;
    return true;
  }

  /** The planned retry becomes the current attempt. */
  takeNext(): Endpoint {
    const next = this.next!;
    this.next = undefined;
    this.#holdsToken = this.#nextHoldsToken;
    this.#nextHoldsToken = false;
    return next;
  }

  /** A planned retry that will not be sent gives its slot and token back. */
  dropNext(): void {
    const next = this.next;
    if (next === undefined) return;
    this.next = undefined;
    this.slots?.release(next);
    if (this.#nextHoldsToken) this.retryPolicy!.budget.retryEnded();
    this.#nextHoldsToken = false;
  }

  /** The attempt on `endpoint` is over: its slot and retry token are free. */
  attemptEnded(endpoint: Endpoint): void {
    this.slots?.release(endpoint);
    if (!this.#holdsToken) return;
    this.#holdsToken = false;
    this.retryPolicy!.budget.retryEnded();
  }
}

/**
 * Who hears the result of a loop started with AttemptLoop.start: the last attempt's result, or
 * the error that broke the loop (a bug: engines never reject).
 */
export interface AttemptListener<R> {
  answered(report: R): void;
  crashed(error: unknown): void;
}

export class AttemptLoop {
  readonly #outcomes: OutcomeListener | undefined;

  constructor(outcomes: OutcomeListener | undefined) {
    this.#outcomes = outcomes;
  }

  /**
   * Runs the exchange from `first` (picked by the caller, which decides what "no instance" means
   * for its protocol, and holding its slot when the exchange has `slots`) and resolves with the
   * last attempt's result; `exchange.endpoint` is its endpoint.
   */
  run<R extends AttemptReport>(exchange: Exchange<R>, first: Endpoint): Promise<R> {
    return new Promise<R>((resolve, reject) => this.start<R>(exchange, first, { answered: resolve, crashed: reject }));
  }

  /**
   * run() for a caller that awaits nothing: the result goes to `listener` (HTTP requests: the
   * exchange itself, so a request costs neither an async function nor a promise to await).
   * Never throws; `listener` must not either.
   */
  start<R extends AttemptReport>(exchange: Exchange<R>, first: Endpoint, listener: AttemptListener<R>): void {
    const budget = exchange.retryPolicy?.budget;
    if (budget !== undefined) {
      budget.requestStarted();
      const inner = listener;
      listener = {
        answered: (report) => {
          budget.requestEnded();
          inner.answered(report);
        },
        crashed: (error) => {
          budget.requestEnded();
          inner.crashed(error);
        },
      };
    }
    this.#attempt(exchange, first, listener);
  }

  /** Sends one attempt; #attempted goes on from its result (one promise reaction per attempt, no async frame). */
  #attempt<R extends AttemptReport>(exchange: Exchange<R>, endpoint: Endpoint, listener: AttemptListener<R>): void {
    exchange.endpoint = endpoint;
    if (exchange.countsInflight) endpoint.stats.inflight++;
    let sent: Promise<R>;
    try {
      sent = exchange.send(endpoint);
    } catch (error) {
      this.#attemptOver(exchange, endpoint);
      listener.crashed(error);
      return;
    }
    sent.then(
      (report) => this.#attempted(exchange, endpoint, report, listener),
      (error: unknown) => {
        this.#attemptOver(exchange, endpoint);
        listener.crashed(error);
      },
    );
  }

  #attemptOver(exchange: Exchange<AttemptReport>, endpoint: Endpoint): void {
    if (exchange.countsInflight) endpoint.stats.inflight--;
    exchange.attemptEnded(endpoint);
  }

  /** One attempt's result: reported, then the loop's answer, or the next attempt (after a backoff). */
  #attempted<R extends AttemptReport>(exchange: Exchange<R>, endpoint: Endpoint, report: R, listener: AttemptListener<R>): void {
    let next: Endpoint;
    let delay: number;
    try {
      this.#attemptOver(exchange, endpoint);
      if (report.aborted) {
        exchange.dropNext();
        return listener.answered(report);
      }
      this.#report(exchange, endpoint, report);
      if (!this.#retryAllowed(exchange, report)) return listener.answered(report);
      next = exchange.takeNext();
      exchange.retries++;
      exchange.metrics.retries.inc();
      delay = exchange.retryPolicy?.backoffDelay(exchange.retries - 1) ?? 0;
    } catch (error) {
      return listener.crashed(error);
    }
    if (delay <= 0) return this.#attempt(exchange, next, listener);
    void backoff(exchange, delay).then((clientStayed) => {
      if (clientStayed) return this.#attempt(exchange, next, listener);
      try {
        exchange.attemptEnded(next);
      } catch (error) {
        return listener.crashed(error);
      }
      listener.answered({ ...report, aborted: true });
    });
  }

  /** Passive health hears every attempt; an upstream answering 5xx counts against it (a refused answer too). */
  #report(exchange: Exchange<AttemptReport>, endpoint: Endpoint, report: AttemptReport): void {
    if (report.error !== undefined) {
      exchange.metrics.upstreamError(report.error).inc();
      this.#outcomes?.onFailure(endpoint, report.error);
    } else if (report.status >= 500) {
      this.#outcomes?.onFailure(endpoint, 'status_5xx');
    } else {
      this.#outcomes?.onSuccess(endpoint);
    }
  }

  /** true when another attempt goes out (`exchange.next` is then set). */
  #retryAllowed(exchange: Exchange<AttemptReport>, report: AttemptReport): boolean {
    // A refused answer: writeHead already decided the retry and picked its instance.
    if (exchange.next !== undefined) return true;
    // An answered attempt (the common case) costs one more comparison here.
    if (report.error === undefined || report.sent || !exchange.canResend()) return false;
    const retry = exchange.retryPolicy;
    const retryable = retry === undefined ? exchange.retryable(report.error) : retry.retriesFailure(report.error, exchange.replaySafe);
    return retryable && exchange.planRetry();
  }
}

/**
 * Waits `ms` before a retry (one timer per retry, none per request); ends early when the
 * client leaves. Resolves false when the client is gone.
 */
function backoff(exchange: Exchange<AttemptReport>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const closes = exchange.clientCloses();
    const done = (): void => {
      clearTimeout(timer);
      closes?.off('close', done);
      resolve(!exchange.clientGone());
    };
    const timer = setTimeout(done, ms);
    closes?.once('close', done);
  });
}
