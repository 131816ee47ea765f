/**
 * Token buckets by key, for the rateLimit step: at most `maxKeys` buckets, the
 * least recently used forgotten first (CLOCK: one "used" bit per bucket and a
 * hand that clears bits until it finds an unused bucket, so a hit costs one
 * Map read and a byte write, never a re-insert).
 *
 * Refill is lazy: a bucket stores its tokens and when they were counted, and
 * a request adds `elapsed × rate` first. No timer per key; `now` is a
 * monotonic clock in milliseconds (injected for tests).
 *
 * State lives in typed arrays indexed by slot (no object per key): memory is
 * the Map entry, the key string and ~26 bytes. They grow by doubling up to
 * maxKeys, so a route with few keys holds little.
 *
 * Shared limits (shared-rate-limit.ts): `share` is this proxy's part of the
 * limit (1/n for n live proxies), scaling both the refill rate and the bucket
 * size; each bucket also counts what it admitted since the last report
 * (`spent`) and is listed once per reporting period in `touched`.
 */

/** A freshly seen key starts with a full bucket. */
const INITIAL_SLOTS = 1024;

export class TokenBuckets {
  /** Sustained rate, tokens per millisecond (the whole limit; this proxy refills at `rate × share`). */
  readonly ratePerMs: number;
  readonly burst: number;
  readonly maxKeys: number;
  /** This proxy's part of the limit: 1 unless shared (then 1 / live proxies). */
  share = 1;
  readonly #keys = new Map<string, number>();
  #slotKeys: string[] = [];
  #tokens: Float64Array;
  #last: Float64Array;
  #used: Uint8Array;
  #spent: Float64Array | undefined;
  #touched: Uint8Array | undefined;
  /** Slots used since the last report (shared limits only), each listed once. */
  #touchedList: number[] = [];
  #hand = 0;

  constructor(ratePerSecond: number, burst: number, maxKeys: number, shared = false) {
    this.ratePerMs = ratePerSecond / 1000;
    this.burst = burst;
    this.maxKeys = maxKeys;
    const slots = Math.min(maxKeys, INITIAL_SLOTS);
    this.#tokens = new Float64Array(slots);
    this.#last = new Float64Array(slots);
    this.#used = new Uint8Array(slots);
    if (shared) {
      this.#spent = new Float64Array(slots);
      this.#touched = new Uint8Array(slots);
    }
  }

  get size(): number {
    return this.#keys.size;
  }

  /** The bucket of `key`, created full (evicting the least recently used one when at maxKeys). */
  slotOf(key: string, now: number): number {
    const found = this.#keys.get(key);
    if (found !== undefined) {
      this.#used[found] = 1;
      return found;
    }
    const slot = this.#keys.size < this.maxKeys ? this.#grow(this.#keys.size) : this.#evict();
    this.#keys.set(key, slot);
    this.#slotKeys[slot] = key;
    this.#tokens[slot] = this.burst * this.share;
    this.#last[slot] = now;
    this.#used[slot] = 1;
    if (this.#spent !== undefined) this.#spent[slot] = 0;
    return slot;
  }

  /** The bucket of `key` if it is remembered, without touching it; -1 otherwise. */
  find(key: string): number {
    return this.#keys.get(key) ?? -1;
  }

  /** Spends one token when there is one; the bucket's tokens are refilled first. */
  take(slot: number, now: number): boolean {
    const tokens = this.tokens(slot, now);
    if (this.#touched !== undefined && this.#touched[slot] === 0) {
      this.#touched[slot] = 1;
      this.#touchedList.push(slot);
    }
    if (tokens < 1) return false;
    this.#tokens[slot] = tokens - 1;
    if (this.#spent !== undefined) this.#spent[slot]! += 1;
    return true;
  }

  /** Tokens in the bucket now (refilled and stored); below 1 means the next request is refused. */
  tokens(slot: number, now: number): number {
    const elapsed = now - this.#last[slot]!;
    let tokens = this.#tokens[slot]!;
    if (elapsed > 0) {
      const capacity = this.burst * this.share;
      tokens = Math.min(capacity, tokens + elapsed * this.ratePerMs * this.share);
      this.#tokens[slot] = tokens;
      this.#last[slot] = now;
    }
    return tokens;
  }

  /** Milliseconds until the bucket holds one token again. */
  msUntilToken(tokens: number): number {
    return tokens >= 1 ? 0 : (1 - tokens) / (this.ratePerMs * this.share);
  }

  /** The whole limit's remaining tokens as this proxy estimates them (its part scaled up). */
  remaining(tokens: number): number {
    return tokens <= 0 ? 0 : Math.floor(tokens / this.share);
  }

  /**
   * Shared limits: hands the buckets used since the last call to `report` (key,
   * admitted count) and starts a new period. The counts restart at zero.
   */
  drainTouched(report: (slot: number, key: string, spent: number) => void): void {
    const list = this.#touchedList;
    this.#touchedList = [];
    for (const slot of list) {
      this.#touched![slot] = 0;
      const key = this.#slotKeys[slot];
      if (key === undefined) continue;
      report(slot, key, this.#spent![slot]!);
      this.#spent![slot] = 0;
    }
  }

  /**
   * Shared limits: the global bucket of `key` held `global` tokens when Redis
   * counted them; this proxy keeps its share, less what it admitted since it sent
   * its report. A slot that now holds another key is left alone.
   */
  reconcile(slot: number, key: string, global: number, now: number): void {
    if (this.#slotKeys[slot] !== key) return;
    this.#tokens[slot] = global * this.share - this.#spent![slot]!;
    this.#last[slot] = now;
  }

  #grow(slot: number): number {
    if (slot < this.#tokens.length) return slot;
    const length = Math.min(this.maxKeys, this.#tokens.length * 2);
    this.#tokens = resized(this.#tokens, length);
    this.#last = resized(this.#last, length);
    const used = new Uint8Array(length);
    used.set(this.#used);
    this.#used = used;
    if (this.#spent !== undefined) {
      this.#spent = resized(this.#spent, length);
      const touched = new Uint8Array(length);
      touched.set(this.#touched!);
      this.#touched = touched;
    }
    return slot;
  }

  /** CLOCK: clear "used" bits until a bucket that was not used since the hand last passed it. */
  #evict(): number {
    const used = this.#used;
    let hand = this.#hand;
    while (used[hand] === 1) {
      used[hand] = 0;
      hand = hand + 1 === this.maxKeys ? 0 : hand + 1;
    }
    this.#hand = hand + 1 === this.maxKeys ? 0 : hand + 1;
    this.#keys.delete(this.#slotKeys[hand]!);
    return hand;
  }
}

function resized(array: Float64Array, length: number): Float64Array {
  const next = new Float64Array(length);
  next.set(array);
  return next;
}
