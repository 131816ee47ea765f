/**
 * A route's retry budget (Envoy's retry_budget): retries in flight at most `ratio`
 * of the route's active requests, and always at least `minConcurrent`, so a lone
 * request can still retry while an outage cannot multiply the traffic that reaches
 * the instances.
 *
 * Two plain counters on one object per route. A route-table rebuild builds a new
 * budget and the old one goes with the old table (its requests finish on it); for
 * a moment the new budget counts only the new table's requests, which is cheap to
 * lose and leaks nothing.
 */
import type { Counter } from 'prom-client';

/** Retries always allowed at once, however few requests are active (Envoy's min_retry_concurrency). */
export const MIN_CONCURRENT_RETRIES = 3;

export class RetryBudget {
  /** Requests of the route inside the attempt loop now. */
  activeRequests = 0;
  /** Retries (attempts after the first, with their backoff) under way now. */
  activeRetries = 0;

  constructor(
    /** Share of active requests that may be retrying at once (0.2 = 20 %). */
    readonly ratio: number,
    /** waypost_retry_budget_exhausted_total{service}, resolved once per route. */
    readonly exhausted: Counter.Internal | undefined,
    readonly minConcurrent = MIN_CONCURRENT_RETRIES,
  ) {}

  requestStarted(): void {
    this.activeRequests++;
  }

  requestEnded(): void {
    this.activeRequests--;
  }

  /** Takes a retry token when the budget has one; a refusal is counted. */
  tryStartRetry(): boolean {
    if (this.activeRetries < Math.max(this.minConcurrent, this.ratio * this.activeRequests)) {
      this.activeRetries++;
      return true;
    }
    this.exhausted?.inc();
    return false;
  }

  retryEnded(): void {
    this.activeRetries--;
  }
}
