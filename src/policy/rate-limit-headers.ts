/**
 * The RateLimit and RateLimit-Policy fields of draft-ietf-httpapi-ratelimit-headers
 * (-10, September 2025; the `q`/`w` and `r`/`t` parameters are unchanged since -08):
 *
 *   RateLimit-Policy: "default";q=100;w=1     quota q per window of w seconds
 *   RateLimit: "default";r=42;t=1             r left, full again in t seconds
 *
 * A token bucket maps onto them as: q = the burst (what a client may send at
 * once), w = the seconds one burst takes to refill (at least 1), r = whole
 * tokens left, t = seconds until the bucket is full again (0 when it is).
 */

/** The policy's name in both fields (the draft's sf-string identifying the quota policy). */
const POLICY_NAME = '"default"';

/** `RateLimit-Policy`'s value, encoded once per route. */
export function rateLimitPolicyValue(ratePerSecond: number, burst: number): string {
  const window = Math.max(1, Math.round(burst / ratePerSecond));
  return `${POLICY_NAME};q=${burst};w=${window}`;
}

/** `RateLimit`'s value: `remaining` whole tokens left, full again in `resetSeconds`. */
export function rateLimitValue(remaining: number, resetSeconds: number): string {
  return `${POLICY_NAME};r=${remaining};t=${resetSeconds}`;
}

/** Whole seconds until `missing` tokens are back at `ratePerMs` (rounded up, as Retry-After wants). */
export function secondsFor(missing: number, ratePerMs: number): number {
  return missing <= 0 ? 0 : Math.ceil(missing / ratePerMs / 1000);
}
