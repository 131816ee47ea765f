/**
 * The wall clock for the request path. Date.now() is a V8 runtime call (~300 instructions);
 * performance.now() is a fast API call (~40). Per-request timestamps (access-log lines, the
 * dashboard's series) read the monotonic clock plus its offset to the wall clock, sampled from
 * Date.now() at most every RESAMPLE_MS: within about a millisecond of Date.now(), and a wall
 * clock that is set or slewed is followed within RESAMPLE_MS. (nginx, too, stamps its logs with a
 * cached time.)
 */
import { performance } from 'node:perf_hooks';

/** Often enough that a clock slewed hard (this test machine's VM moves 4 ms a second) stays within a millisecond. */
const RESAMPLE_MS = 100;
let offset = 0;
let sampledAt = Number.NEGATIVE_INFINITY;

/** Milliseconds since the epoch, with a fraction. */
export function wallClockMs(): number {
  const monotonic = performance.now();
  if (monotonic - sampledAt >= RESAMPLE_MS) {
    sampledAt = monotonic;
    // Date.now() drops the fraction of its millisecond (0–1 ms low): +0.5 centres the error.
    offset = Date.now() - performance.now() + 0.5;
  }
  return offset + monotonic;
}
