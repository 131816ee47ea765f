/**
 * Timing helpers shared by everything that talks to a registry that may be
 * away: capped exponential backoff with jitter, and sleeps that end early when
 * their owner closes.
 */
import { setTimeout as delay } from 'node:timers/promises';

export interface BackoffOptions {
  /** First retry delay. @default 250 */
  readonly initialMs?: number;
  /** Upper bound of any delay. @default 5000 */
  readonly maxMs?: number;
}

/**
 * Delay before retry number `attempt` (0-based): initial × 2^attempt, capped,
 * then spread by ±20 % so many clients that lost the registry together do not
 * come back in lockstep.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const initial = options.initialMs ?? 250;
  const max = options.maxMs ?? 5000;
  const base = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return Math.min(max, Math.round(jitter(base, 0.2)));
}

/** `value` spread uniformly over ±`fraction` of itself. */
export function jitter(value: number, fraction: number): number {
  return value * (1 + (Math.random() * 2 - 1) * fraction);
}

/** Resolves after `ms`, or at once (without throwing) when `signal` aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return;
  try {
    await delay(ms, undefined, signal ? { signal } : undefined);
  } catch (err) {
    if (!signal?.aborted) throw err;
  }
}
