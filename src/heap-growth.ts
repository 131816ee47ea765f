/**
 * Lets the old generation grow 3× past what survives a full GC, once the proxy serves (issue 21).
 *
 * Under sustained load with larger answers (16 KiB), the objects of the requests in flight live
 * across a few scavenges and are promoted at a steady rate. With V8's own growing factor the
 * old-generation limit stays close to what survives each mark-compact, so a busy proxy process
 * ran 0–33 full GCs every 4 s (median ~14, by process), ~16 % of its CPU in mark-compact work.
 * `--heap-growing-percent=200` leaves room for that churn: 1–6 full GCs per run instead, and
 * about 1.2× the requests per second at the same peak RSS (README, Performance). It is set after
 * start-up, so what the proxy keeps at idle is what the default settles to. A process started
 * with its own growing factor keeps it (the way to opt out: `node --heap-growing-percent=0
 * dist/cli.js proxy` restores V8's default; Node refuses the flag in NODE_OPTIONS).
 */
import v8 from 'node:v8';

export const HEAP_GROWING_PERCENT = 200;

/** V8 reads a flag with dashes or underscores, `--flag=N` or `--flag N`. */
const FLAGS_WE_LEAVE_ALONE = /--heap[-_]growing[-_]percent\b/;

/** The process's Node flags (`execArgv`, joined) set the growing factor themselves. */
export function namesGrowingFactor(nodeFlags: string): boolean {
  return FLAGS_WE_LEAVE_ALONE.test(nodeFlags);
}

/** Sets the growing factor unless this process's Node flags name it; true when it did. */
export function growOldGenerationForThroughput(): boolean {
  if (namesGrowingFactor(process.execArgv.join(' '))) return false;
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return true;
}
