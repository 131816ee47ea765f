/**
 * Shared rate limits (`rateLimit.shared: true`): one limit over every proxy on
 * the same Redis, without a Redis call per request.
 *
 * Each proxy admits from its own buckets (token-buckets.ts) with `share` = 1/n
 * of the limit (n = live proxies), so between reports the proxies together
 * refill at exactly the limit. Every 100 ms ONE reconciler per app sends, per
 * batch of keys used since the last report, one Lua script that:
 * - marks this proxy alive in `{prefix}:ratelimit:proxies` (sorted set, score =
 *   the server's clock; members silent for STALE_MS are dropped) and counts n,
 *   the proxies that served a shared limit lately;
 * - per key, refills the global bucket `{prefix}:ratelimit:ROUTE/SERVICE:KEY` (ROUTE: the
 *   route's stable id, the same on every proxy whatever the order of its routes) by the
 *   time passed on the server's clock, takes off what this proxy admitted, and
 *   returns the tokens left (negative = admitted over the limit, a debt the
 *   next periods pay back; floored at -burst).
 * The proxy then sets each reported bucket to its share of the global tokens.
 * Redis keeps exact books, so over time the proxies admit the limit (plus one
 * burst) whatever the skew between them; within one period the error is at most
 * what the proxies admit in it.
 *
 * When Redis is unreachable nothing is reported (counts from the outage are
 * dropped, so reconnecting does not bill a debt) and each proxy keeps limiting
 * at 1/n of the limit with the last n it knew: together still about the limit.
 * Before its first report a proxy counts itself alone (n = 1).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { TokenBuckets } from './token-buckets.js';

/** The Redis client calls the reconciler uses (ioredis' Redis and Cluster fit). */
export interface SyncRedis {
  readonly status: string;
  connect(): Promise<unknown>;
  disconnect(): void;
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
}

/** A shared limiter: its route (`STABLE-ID/SERVICE`, part of the Redis key) and buckets. */
export interface SharedLimiter {
  readonly key: string;
  readonly buckets: TokenBuckets;
}

export interface SharedRateLimitSyncOptions {
  /** Creates the (not yet connected) client on first use; it must carry an 'error' listener. */
  connect: () => SyncRedis;
  /** `redis.prefix`: keys are `{prefix}:ratelimit:…` (one hash slot in a cluster). */
  prefix: string;
  /** The shared limiters alive now (the app's RateLimits). */
  limiters: () => Iterable<SharedLimiter>;
  now: () => number;
  logger: Logger;
  /** @default 100 */
  intervalMs?: number;
  /** This proxy's member in the live-proxies set. @default random */
  proxyId?: string;
}

/** A proxy that has not reported for this long is no longer counted. */
const STALE_MS = 2_000;
/** Keys per script call (bounds one call's run time on the Redis server). */
const BATCH = 500;

/**
 * KEYS[1] live proxies; KEYS[2..] global buckets. ARGV[1] proxy id, ARGV[2] stale ms,
 * then per bucket: rate (tokens/ms), burst, admitted since the last report.
 * Returns { live proxies, tokens left of each bucket (as strings: Lua numbers become integers) }.
 */
const RECONCILE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local stale = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - stale)
redis.call('PEXPIRE', KEYS[1], stale * 2)
local out = { redis.call('ZCARD', KEYS[1]) }
for i = 2, #KEYS do
  local j = (i - 2) * 3 + 3
  local rate = tonumber(ARGV[j])
  local burst = tonumber(ARGV[j + 1])
  local spent = tonumber(ARGV[j + 2])
  local saved = redis.call('HMGET', KEYS[i], 'g', 't')
  local g = tonumber(saved[1])
  local last = tonumber(saved[2])
  if g == nil or last == nil then g = burst; last = now end
  if now > last then g = math.min(burst, g + (now - last) * rate) end
  g = math.max(-burst, g - spent)
  redis.call('HSET', KEYS[i], 'g', tostring(g), 't', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil(burst / rate) + 60000)
  out[#out + 1] = tostring(g)
end
return out
`;

interface Report {
  limiter: SharedLimiter;
  slot: number;
  key: string;
  spent: number;
}

export class SharedRateLimitSync {
  readonly proxyId: string;
  readonly #options: SharedRateLimitSyncOptions;
  readonly #proxiesKey: string;
  readonly #log: Logger;
  #client: SyncRedis | undefined;
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  #closed = false;
  /** Live proxies at the last report (the share's denominator, kept through an outage). */
  proxies = 1;
  /** Successful reports (for tests and diagnostics). */
  reports = 0;

  constructor(options: SharedRateLimitSyncOptions) {
    this.#options = options;
    this.proxyId = options.proxyId ?? randomUUID();
    this.#proxiesKey = `{${options.prefix}}:ratelimit:proxies`;
    this.#log = options.logger.child({ component: 'shared-rate-limit' });
  }

  /** Starts reporting (idempotent): called when the first shared limiter is built. */
  start(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#client = this.#options.connect();
    this.#client.connect().catch((err: Error) => this.#log.warn({ err: err.message }, 'shared rate limits: Redis unreachable, limiting locally'));
    this.#timer = setInterval(() => void this.tick(), this.#options.intervalMs ?? 100);
    this.#timer.unref();
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#client?.disconnect();
  }

  /** One reconciliation (the timer calls it; tests may too). Never throws. */
  async tick(): Promise<void> {
    if (this.#busy || this.#closed) return;
    this.#busy = true;
    try {
      const reports: Report[] = [];
      for (const limiter of this.#options.limiters()) {
        limiter.buckets.drainTouched((slot, key, spent) => reports.push({ limiter, slot, key, spent }));
      }
      // Nothing served under a shared limit: no report, and after STALE_MS this proxy no longer
      // counts in n (so a cluster primary or an idle proxy does not take a share it never uses).
      if (reports.length === 0) return;
      // Without Redis the counts are dropped: each proxy limits at its share meanwhile.
      if (this.#client?.status !== 'ready') return;
      for (let start = 0; start < reports.length; start += BATCH) await this.#send(reports.slice(start, start + BATCH));
      this.reports += 1;
    } catch (err) {
      this.#log.debug({ err: (err as Error).message }, 'shared rate limits not reconciled');
    } finally {
      this.#busy = false;
    }
  }

  async #send(batch: Report[]): Promise<void> {
    const keys: string[] = [this.#proxiesKey];
    const args: (string | number)[] = [this.proxyId, STALE_MS];
    const tag = `{${this.#options.prefix}}:ratelimit:`;
    for (const { limiter, key, spent } of batch) {
      keys.push(`${tag}${limiter.key}:${key}`);
      args.push(limiter.buckets.ratePerMs, limiter.buckets.burst, spent);
    }
    const reply = (await this.#client!.eval(RECONCILE, keys.length, ...keys, ...args)) as (string | number)[];
    const proxies = Math.max(1, Number(reply[0]) || 1);
    if (proxies !== this.proxies) {
      this.proxies = proxies;
      for (const limiter of this.#options.limiters()) limiter.buckets.share = 1 / proxies;
    }
    const now = this.#options.now();
    for (let i = 0; i < batch.length; i++) {
      const { limiter, slot, key } = batch[i]!;
      const global = Number(reply[i + 1]);
      if (Number.isFinite(global)) limiter.buckets.reconcile(slot, key, global, now);
    }
  }
}
