/**
 * rateLimit (DESIGN §8): a token bucket per key, `rate` per second sustained and
 * `burst` at once. Over the limit: 429 `rate_limited` with Retry-After (whole
 * seconds until a token is back) and the draft IETF RateLimit / RateLimit-Policy
 * fields (rate-limit-headers.ts); admitted answers carry the same two fields,
 * added on the response head.
 *
 * Keys: `client-ip` (the trusted client address), `route` (one bucket for the
 * route), `header:NAME` (the header's value; requests without the header, or with
 * an empty one, share one bucket: NO_VALUE). Values longer than MAX_KEY_LENGTH
 * are replaced by their SHA-256 so a client cannot make a bucket cost 16 KiB.
 */
import { createHash } from 'node:crypto';
import type { Writable } from 'node:stream';
import type { RateLimitConfig } from '../config/policy-schema.js';
import type { Metrics } from '../metrics.js';
import { rateLimitPolicyValue, rateLimitValue, secondsFor } from './rate-limit-headers.js';
import type { RateLimits } from './rate-limits.js';
import type { PolicyRequest, RequestStep, ResponseStep } from './step.js';
import { TokenBuckets } from './token-buckets.js';

/** The bucket of requests that do not carry the key's header (or carry it empty). */
export const NO_VALUE = '';
const MAX_KEY_LENGTH = 128;

type KeyOf = (request: PolicyRequest) => string;

export interface RateLimitSteps {
  readonly request: RequestStep;
  readonly response: ResponseStep;
}

export interface RateLimitRoute {
  readonly routeId: string;
  readonly service: string;
  /** Buckets are kept under it across reloads (PolicyRoute.stableId). @default routeId */
  readonly stableId?: string;
}

export interface RateLimitDeps {
  readonly metrics: Metrics;
  /** App-owned state (outlives route tables; shared limits); absent: buckets of this table only. */
  readonly rateLimits?: RateLimits;
}

/** The default burst: one second's worth of the rate, at least one request. */
export function defaultBurst(ratePerSecond: number): number {
  return Math.max(1, Math.ceil(ratePerSecond));
}

export function buildRateLimit(config: RateLimitConfig, route: RateLimitRoute, deps: RateLimitDeps): RateLimitSteps {
  const burst = config.burst ?? defaultBurst(config.rate);
  const buckets = deps.rateLimits?.buckets(route, config, burst) ?? new TokenBuckets(config.rate, burst, config.maxKeys);
  const now = deps.rateLimits?.now ?? (() => performance.now());
  const limiter = new RateLimiter(buckets, keyOf(config.key), now, deps.metrics.rateLimited.labels(route.service));
  return { request: limiter, response: limiter };
}

function keyOf(key: string): KeyOf {
  if (key === 'route') return () => NO_VALUE;
  if (key === 'client-ip') return (request) => boundedKey(request.clientIp);
  const name = key.slice('header:'.length).toLowerCase();
  return (request) => {
    const value = request.req.headers[name];
    if (value === undefined) return NO_VALUE;
    return boundedKey(typeof value === 'string' ? value : value.join(', '));
  };
}

function boundedKey(value: string): string {
  return value.length <= MAX_KEY_LENGTH ? value : `sha256:${createHash('sha256').update(value).digest('base64url')}`;
}

class RateLimiter implements RequestStep, ResponseStep {
  readonly #policy: string;

  constructor(
    readonly buckets: TokenBuckets,
    readonly keyOf: KeyOf,
    readonly now: () => number,
    readonly rejected: { inc(): void },
  ) {
    this.#policy = rateLimitPolicyValue(buckets.ratePerMs * 1000, buckets.burst);
  }

  run(request: PolicyRequest): boolean {
    const buckets = this.buckets;
    const now = this.now();
    const slot = buckets.slotOf(this.keyOf(request), now);
    if (buckets.take(slot, now)) return true;
    const tokens = buckets.tokens(slot, now);
    this.rejected.inc();
    request.reject('rate_limited', {
      'retry-after': String(Math.max(1, Math.ceil(buckets.msUntilToken(tokens) / 1000))),
      'ratelimit-policy': this.#policy,
      // A shared limit's estimate may still see a token elsewhere; this answer has none.
      'ratelimit': this.#value(tokens, 0),
    });
    return false;
  }

  /** Admitted answers: the limit as it stands when the answer leaves (no bucket is created here). */
  onHead(request: PolicyRequest, _status: number, head: string[], sink: Writable): Writable {
    const buckets = this.buckets;
    const slot = buckets.find(this.keyOf(request));
    const tokens = slot === -1 ? buckets.burst * buckets.share : buckets.tokens(slot, this.now());
    head.push('ratelimit-policy', this.#policy, 'ratelimit', this.#value(tokens));
    return sink;
  }

  #value(tokens: number, remaining = this.buckets.remaining(tokens)): string {
    const buckets = this.buckets;
    return rateLimitValue(remaining, secondsFor(buckets.burst - Math.max(0, tokens / buckets.share), buckets.ratePerMs));
  }
}
