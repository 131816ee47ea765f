/**
 * The `retry` key of a route (DESIGN §8), compiled once per route: which failures
 * and status codes another instance may fix, for which methods, how many times,
 * how long each attempt may wait for its head, the backoff between attempts and
 * the route's retry budget. The attempt loop (src/proxy/attempts.ts) and the HTTP
 * exchange's writeHead ask it; it holds no per-request state.
 *
 * A route with only `retries: N` (or the global `retries`) gets no RetryPolicy:
 * that short form keeps its plain behaviour (connect failures and resets, no
 * backoff, no budget), so it costs nothing.
 */
import type { RetryConfig } from '../config/policy-schema.js';
import type { UpstreamErrorReason } from '../metrics.js';
import type { PolicyDeps, PolicyRoute } from './chain.js';
import { RetryBudget } from './retry-budget.js';

/** Methods a retry may repeat after the instance may have processed the request (RFC 9110 §9.2.2). */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** The backoff never waits more than this many times its base (Envoy's default max_interval). */
export const BACKOFF_CAP_FACTOR = 10;

/** What each `on` word covers. Connect failures and resets leave the request unprocessed; a timeout may not. */
const REASONS: Readonly<Record<'connect-failure' | 'reset' | 'timeout', readonly UpstreamErrorReason[]>> = {
  'connect-failure': ['connect_refused', 'connect_timeout'],
  reset: ['reset'],
  timeout: ['header_timeout', 'idle_timeout'],
};

/** Failures after which the instance may have processed the request: retried for idempotent methods only (or `unsafe`). */
const MAYBE_PROCESSED: ReadonlySet<UpstreamErrorReason> = new Set(['header_timeout', 'idle_timeout']);

/** The route timeouts a per-try timeout tightens (the shape of src/routing/route.ts RouteTimeouts). */
export interface AttemptTimeouts {
  readonly connect: number;
  readonly header: number;
  readonly idle: number;
}

export class RetryPolicy {
  /** Further attempts after the first. */
  readonly attempts: number;
  /** Retry non-idempotent methods on status codes and timeouts too. */
  readonly unsafe: boolean;
  /** Each attempt's limit for the response head in ms; 0 = the route's header timeout alone. */
  readonly perTryTimeout: number;
  /** Base of the backoff in ms; 0 = retry at once. */
  readonly backoff: number;
  readonly budget: RetryBudget;
  readonly #reasons: ReadonlySet<UpstreamErrorReason>;
  /** Index status - 500: 1 = retried. */
  readonly #statuses = new Uint8Array(100);
  /** True when `on` lists any status code (the common answered path then costs one comparison). */
  readonly retriesStatuses: boolean;
  #timeoutsFor: AttemptTimeouts | undefined;
  #timeouts: AttemptTimeouts | undefined;

  constructor(
    config: RetryConfig,
    budget: RetryBudget,
    /** Uniform numbers in [0, 1) for the jitter; injected so tests are deterministic. */
    readonly random: () => number = Math.random,
  ) {
    this.attempts = config.attempts;
    this.unsafe = config.unsafe;
    this.perTryTimeout = config.perTryTimeout;
    this.backoff = config.backoff;
    this.budget = budget;
    const reasons = new Set<UpstreamErrorReason>();
    for (const on of config.on) {
      if (typeof on === 'number') this.#statuses[on - 500] = 1;
      else for (const reason of REASONS[on]) reasons.add(reason);
    }
    this.#reasons = reasons;
    this.retriesStatuses = this.#statuses.includes(1);
  }

  /** Whether a request with this method may be repeated after the instance may have processed it. */
  allowsMethod(method: string): boolean {
    return this.unsafe || IDEMPOTENT_METHODS.has(method);
  }

  /** Whether a failed attempt (nothing reached the client) may go to another instance. */
  retriesFailure(reason: UpstreamErrorReason, methodAllowed: boolean): boolean {
    return this.#reasons.has(reason) && (methodAllowed || !MAYBE_PROCESSED.has(reason));
  }

  /** Whether an upstream answer with this status may be refused and asked of another instance. */
  retriesStatus(status: number): boolean {
    return status >= 500 && status <= 599 && this.#statuses[status - 500] === 1;
  }

  /**
   * The wait before retry number `retry` (0 for the first): full jitter over
   * base × 2^retry, capped at BACKOFF_CAP_FACTOR × base.
   */
  backoffDelay(retry: number, random: () => number = this.random): number {
    if (this.backoff === 0) return 0;
    const ceiling = Math.min(this.backoff * BACKOFF_CAP_FACTOR, this.backoff * 2 ** Math.min(retry, 30));
    return random() * ceiling;
  }

  /** The route's timeouts with the header timeout tightened to the per-try timeout (computed once per route). */
  timeouts<T extends AttemptTimeouts>(route: T): T {
    if (this.perTryTimeout === 0 || route.header <= this.perTryTimeout) return route;
    if (this.#timeoutsFor !== route) {
      this.#timeouts = Object.freeze({ ...route, header: this.perTryTimeout });
      this.#timeoutsFor = route;
    }
    return this.#timeouts as T;
  }
}

/** The `retry` key's builder (chain.ts); the budget's refusals count in waypost_retry_budget_exhausted_total{service}. */
export function buildRetryPolicy(config: RetryConfig, route: PolicyRoute, deps: PolicyDeps): RetryPolicy {
  return new RetryPolicy(config, new RetryBudget(config.budget, deps.metrics.retryBudgetExhausted.labels(route.service)));
}
