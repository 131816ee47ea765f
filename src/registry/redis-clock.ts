/**
 * Estimates how far the Redis server's clock is from this process's clock, so
 * `waypost_registry_propagation_seconds` never subtracts one clock from another.
 *
 * A change's `at` is stamped with Redis `TIME` (leases run on that clock); the
 * mirror applies it at a local time. Subtracting the two would add the clock skew
 * between the proxy host and the Redis host to every observation (hours, with a
 * badly set clock; or 0 for everything when the proxy is behind, after clamping).
 * So the store reads `TIME` now and then and keeps, NTP-style, the offset of the
 * sample with the shortest round trip among the recent ones:
 *   offset = redisTime − (sentAt + receivedAt) / 2,   error ≤ roundTrip / 2
 * (well under a millisecond on a LAN). Propagation is then
 * `localNow + offset − at`, both ends on the Redis clock. Sampling stays off the
 * request path: a few reads at start, then one every SAMPLE_INTERVAL_MS.
 */
import { systemClock, type Clock, type TimerHandle } from '../clock.js';

/** Samples taken back to back at start, for a tight first estimate. */
const INITIAL_SAMPLES = 3;
/** One sample this often afterwards, so clock drift and steps are followed. */
const SAMPLE_INTERVAL_MS = 30_000;
/** The estimate uses the best of this many recent samples. */
const SAMPLES_KEPT = 8;

interface Sample {
  readonly offsetMs: number;
  readonly roundTripMs: number;
}

export interface RedisClockOffsetOptions {
  /** The registry's time in ms (Redis TIME on the node that stamps changes). */
  readRegistryTime: () => Promise<number>;
  /** This process's clock; the mirror must measure with the same one. @default systemClock */
  clock?: Clock;
}

export class RedisClockOffset {
  readonly #read: () => Promise<number>;
  readonly #clock: Clock;
  readonly #samples: Sample[] = [];
  #offsetMs = 0;
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(options: RedisClockOffsetOptions) {
    this.#read = options.readRegistryTime;
    this.#clock = options.clock ?? systemClock;
  }

  /** Registry clock minus local clock (ms); 0 until the first sample. */
  get offsetMs(): number {
    return this.#offsetMs;
  }

  /** Takes the first samples, then keeps sampling in the background until stop(). */
  async start(): Promise<void> {
    for (let i = 0; i < INITIAL_SAMPLES; i++) await this.sample();
    this.#scheduleNext();
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** One round trip; a failed read is skipped (the last estimate stands). */
  async sample(): Promise<void> {
    const sentAt = this.#clock.now();
    let registryTime: number;
    try {
      registryTime = await this.#read();
    } catch {
      return;
    }
    const receivedAt = this.#clock.now();
    this.#samples.push({ offsetMs: registryTime - (sentAt + receivedAt) / 2, roundTripMs: receivedAt - sentAt });
    if (this.#samples.length > SAMPLES_KEPT) this.#samples.shift();
    let best = this.#samples[0]!;
    for (const s of this.#samples) if (s.roundTripMs < best.roundTripMs) best = s;
    this.#offsetMs = best.offsetMs;
  }

  #scheduleNext(): void {
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimer(() => void this.sample().finally(() => this.#scheduleNext()), SAMPLE_INTERVAL_MS);
  }
}
