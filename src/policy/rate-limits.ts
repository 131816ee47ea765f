/**
 * The app's rate-limit state (PolicyDeps.rateLimits): buckets outlive route
 * tables, so a config reload or a live-route edit does not hand every client a
 * fresh burst. Buckets are kept per route and service and reused while the route's limit
 * (rate, burst, key, maxKeys, shared) stays the same; a changed limit starts
 * fresh buckets. "The same route" is its stable id (PolicyRoute.stableId): for a
 * config-file route what it matches, not its position, so a reload that inserts or
 * reorders routes leaves each route its own buckets; a shared limit's Redis keys
 * carry the same id, so proxies whose files list the routes in another order agree.
 *
 * Held weakly: a route that left every table is forgotten once its last table
 * is collected, with no close() to call. The one reconciler for shared limits
 * (shared-rate-limit.ts) walks the shared ones still alive.
 */
import type { RateLimitConfig } from '../config/policy-schema.js';
import type { RateLimitRoute } from './rate-limit.js';
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
  buckets(route: RateLimitRoute, config: RateLimitConfig, burst: number): TokenBuckets {
    const key = stateKeyOf(route);
    const shared = config.shared && this.sync !== undefined;
    const signature = `${config.rate}|${burst}|${config.key}|${config.maxKeys}|${shared}`;
    const entry = this.#entries.get(key);
    const kept = entry?.signature === signature ? entry.ref.deref() : undefined;
    if (kept !== undefined) return kept;
    this.#forgetCollected();
    if (config.shared && !shared) this.#onSharedWithoutRedis?.(route.routeId);
    const buckets = new TokenBuckets(config.rate, burst, config.maxKeys, shared);
    this.#entries.set(key, { signature, shared, ref: new WeakRef(buckets) });
    if (shared) {
      buckets.share = 1 / this.sync!.proxies;
      this.sync!.start();
    }
    return buckets;
  }

  /** Keys remembered for a route's limit (diagnostics, tests); undefined when it has none. */
  keys(route: RateLimitRoute): number | undefined {
    return this.#entries.get(stateKeyOf(route))?.ref.deref()?.size;
  }

  close(): void {
    this.sync?.close();
  }

  /** Routes whose tables were all collected (at route build only, never per request). */
  #forgetCollected(): void {
    for (const [key, entry] of this.#entries) if (entry.ref.deref() === undefined) this.#entries.delete(key);
  }

  *#shared(): Iterable<SharedLimiter> {
    for (const [key, entry] of this.#entries) {
      if (!entry.shared) continue;
      const buckets = entry.ref.deref();
      if (buckets === undefined) this.#entries.delete(key);
      else yield { key, buckets };
    }
  }
}

/** `STABLE-ID/SERVICE`: convention routes share one id, so their limits are per service. */
function stateKeyOf(route: RateLimitRoute): string {
  return `${route.stableId ?? route.routeId}/${route.service}`;
}
