/**
 * The one attempt loop of HTTP, WebSocket and TCP: send to the picked
 * endpoint → report the outcome → on a failure the retry rule allows, mark the
 * endpoint tried and pick again through the route, until an attempt answers,
 * the rule says stop, or the next pick is one already tried.
 *
 * A protocol supplies only an Exchange (one object per request or connection):
 * how one attempt is sent, whether another could still be sent, which of its
 * failures leave the instance untouched. Everything else is here once, so a
 * later retry policy (status-code retries, budget, backoff) changes
 * `#retryAllowed` (and retry.ts), nothing in the protocols.
 */
import type { PickContext } from '../balancer/policy.js';
import type { Endpoint, OutcomeListener } from '../endpoint.js';
import type { UpstreamErrorReason } from '../metrics.js';
import { isRetryable, shouldRetry } from './retry.js';
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
  /** Further attempts allowed after the first. */
  readonly retries: number;
  pick(ctx: PickContext): Endpoint | undefined;
}

/** A PickContext that remembers the endpoints already tried (balancers skip them). */
export interface RetryPickContext extends PickContext {
  readonly tried: readonly Endpoint[];
  addTried(endpoint: Endpoint): void;
}

/** One request (or connection) of one protocol, as the loop drives it. */
export abstract class Exchange<R extends AttemptReport> {
  /** The endpoint of the latest attempt (set by the loop before each send). */
  endpoint: Endpoint | undefined = undefined;
  /** Attempts sent after the first. */
  retries = 0;

  constructor(
    readonly route: AttemptRoute,
    readonly ctx: RetryPickContext,
    readonly metrics: ServiceMetrics,
    /** Count each attempt in `endpoint.stats.inflight` while it runs (HTTP); tunnels are counted by the ConnectionTracker. */
    readonly countsInflight: boolean,
  ) {}

  /** Sends one attempt to `endpoint`; resolves when its outcome is known, never rejects. */
  abstract send(endpoint: Endpoint): Promise<R>;

  /** Whether another attempt could be sent at all: the request body can be replayed, the client is still there. */
  abstract canResend(): boolean;

  /** Failures after which the instance never took the request, so another one may (retry.ts by default). */
  readonly retryable: (reason: UpstreamErrorReason) => boolean = isRetryable;
}

export class AttemptLoop {
  readonly #outcomes: OutcomeListener | undefined;

  constructor(outcomes: OutcomeListener | undefined) {
    this.#outcomes = outcomes;
  }

  /**
   * Runs the exchange from `first` (picked by the caller, which decides what "no instance" means
   * for its protocol) and resolves with the last attempt's result; `exchange.endpoint` is its endpoint.
   */
  async run<R extends AttemptReport>(exchange: Exchange<R>, first: Endpoint): Promise<R> {
    let endpoint = first;
    for (;;) {
      exchange.endpoint = endpoint;
      let report: R;
      if (exchange.countsInflight) {
        endpoint.stats.inflight++;
        try {
          report = await exchange.send(endpoint);
        } finally {
          endpoint.stats.inflight--;
        }
      } else {
        report = await exchange.send(endpoint);
      }
      if (report.aborted) return report;
      this.#report(exchange, endpoint, report);
      if (!this.#retryAllowed(exchange, report)) return report;
      exchange.ctx.addTried(endpoint);
      const next = exchange.route.pick(exchange.ctx);
      if (next === undefined || exchange.ctx.tried.includes(next)) return report;
      endpoint = next;
      exchange.retries++;
      exchange.metrics.retries.inc();
    }
  }

  /** Passive health hears every attempt; an upstream answering 5xx counts against it. */
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

  /** The decision point: a status-code rule, a retry budget or a backoff would be added here. */
  #retryAllowed(exchange: Exchange<AttemptReport>, report: AttemptReport): boolean {
    // An answered attempt (the common case) costs one comparison here.
    if (report.error === undefined) return false;
    return shouldRetry(report, exchange.retries, exchange.route.retries, exchange.canResend(), exchange.retryable);
  }
}
