/**
 * The app's rate-limit state (PolicyDeps.rateLimits): buckets outlive route
 * tables, so a config reload or a live-route edit does not hand every client a
 * fresh burst. Buckets are kept per route id and service and reused while the route's limit
 * (rate, burst, key, maxKeys, shared) stays the same; a changed limit starts
 * fresh buckets.
 *
 * Held weakly: a route that left every table is forgotten once its last table
 * is collected, with no close() to call. The one reconciler for shared limits
 * (shared-rate-limit.ts) walks the shared ones still alive.
 */
import type { RateLimitConfig } from '../config/policy-schema.js';
import { SharedRateLimitSync, type SharedLimiter } from './shared-rate-limit.js';
import { TokenBuckets } from './token-buckets.js';

export interface RateLimitsOptions {
  /** Monotonic milliseconds. @default performance.now */
  now?: () => number;
  /** Present when Redis is configured: reconciles `shared: true` limits. */
  sync?: (limiters: () => Iterable<SharedLimiter>) => SharedRateLimitSync;
  /** Told when a route asks for `shared: true` but the app has no Redis (the limit is then per proxy). */
  onSharedWithoutRedis?: (routeId: string) => void;
}

interface Entry {
  readonly signature: string;
  readonly shared: boolean;
  readonly ref: WeakRef<TokenBuckets>;
}

export class RateLimits {
  readonly now: () => number;
  readonly sync: SharedRateLimitSync | undefined;
  readonly #entries = new Map<string, Entry>();
  readonly #onSharedWithoutRedis: ((routeId: string) => void) | undefined;

  constructor(options: RateLimitsOptions = {}) {
    this.now = options.now ?? (() => performance.now());
    this.#onSharedWithoutRedis = options.onSharedWithoutRedis;
    this.sync = options.sync?.(() => this.#shared());
  }

  /** The buckets of a route's limit. `shared` limits count through Redis only when the app has Redis. */
  buckets(route: { routeId: string; service: string }, config: RateLimitConfig, burst: number): TokenBuckets {
    // Convention routes share one route id: their limits are per service.
    const routeId = `${route.routeId}/${route.service}`;
    const shared = config.shared && this.sync !== undefined;
    const signature = `${config.rate}|${burst}|${config.key}|${config.maxKeys}|${shared}`;
    const entry = this.#entries.get(routeId);
    const kept = entry?.signature === signature ? entry.ref.deref() : undefined;
    if (kept !== undefined) return kept;
    this.#forgetCollected();
    if (config.shared && !shared) this.#onSharedWithoutRedis?.(routeId);
    const buckets = new TokenBuckets(config.rate, burst, config.maxKeys, shared);
    this.#entries.set(routeId, { signature, shared, ref: new WeakRef(buckets) });
    if (shared) {
      buckets.share = 1 / this.sync!.proxies;
      this.sync!.start();
    }
    return buckets;
  }

  /** Keys remembered for a route's limit (diagnostics, tests); undefined when it has none. */
  keys(route: { routeId: string; service: string }): number | undefined {
    return this.#entries.get(`${route.routeId}/${route.service}`)?.ref.deref()?.size;
  }

  close(): void {
    this.sync?.close();
  }

  /** Routes whose tables were all collected (at route build only, never per request). */
  #forgetCollected(): void {
    for (const [routeId, entry] of this.#entries) if (entry.ref.deref() === undefined) this.#entries.delete(routeId);
  }

  *#shared(): Iterable<SharedLimiter> {
    for (const [routeId, entry] of this.#entries) {
      if (!entry.shared) continue;
      const buckets = entry.ref.deref();
      if (buckets === undefined) this.#entries.delete(routeId);
      else yield { routeId, buckets };
    }
  }
}
