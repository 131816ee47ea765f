/**
 * Gives the old generation ~32 MiB of room past what survives a full GC, once the proxy serves
 * (issue 21).
 *
 * Under sustained load with larger answers (16 KiB), the objects of the requests in flight live
 * across a few scavenges and are promoted at a steady rate. V8's own rule sets the next full GC
 * from the speed of those promotions against the speed of a full GC; a proxy promotes slowly and
 * its small old generation is quick to mark, so V8 chose factors of 1.2–2.2 and a busy proxy
 * process ran 0–33 full GCs every 4 s (~16 % of its CPU in mark-compact work). A 3× factor
 * (`--heap-growing-percent=200`) cut that to 1–6 and served ~1.2× the requests at the same peak
 * RSS (README, Performance). A fixed factor would also triple a large live heap (a mirror of
 * 100,000 instances holds ~44 MiB), so the factor is set for a constant room instead: 3× while
 * the heap is small, less as it grows, and V8's own rule again once the room would be under 10 %.
 * It is set after start-up and re-set after each full GC from the heap that survived it.
 *
 * A process started with its own growing factor keeps it (`node --heap-growing-percent=0
 * dist/cli.js proxy` keeps V8's own rule; Node refuses the flag in NODE_OPTIONS).
 */
import { PerformanceObserver, constants } from 'node:perf_hooks';
import v8 from 'node:v8';

/** The room past the surviving heap before the next full GC. */
export const OLD_GENERATION_ROOM_BYTES = 32 * 1024 * 1024;
/** At most 3× (V8's own rule goes up to 4× for a fast-allocating process). */
export const MAX_GROWING_PERCENT = 200;
/** Below this the room is what V8's own rule gives anyway (its smallest factor is 1.1). */
const MIN_GROWING_PERCENT = 10;

/** V8 reads a flag with dashes or underscores, `--flag=N` or `--flag N`. */
const FLAGS_WE_LEAVE_ALONE = /--heap[-_]growing[-_]percent\b/;

/** The process's Node flags (`execArgv`, joined) set the growing factor themselves. */
export function namesGrowingFactor(nodeFlags: string): boolean {
  return FLAGS_WE_LEAVE_ALONE.test(nodeFlags);
}

/** The growing percent that leaves OLD_GENERATION_ROOM_BYTES past `heapBytes`; 0 = V8's own rule. */
export function growingPercentFor(heapBytes: number): number {
  const percent = Math.min(MAX_GROWING_PERCENT, Math.floor((OLD_GENERATION_ROOM_BYTES / Math.max(heapBytes, 1)) * 100));
  return percent < MIN_GROWING_PERCENT ? 0 : percent;
}

/** The old generation in use (all but the young generation's and the read-only spaces): what V8 multiplies by the factor. */
export function oldGenerationBytes(): number {
  let bytes = 0;
  for (const space of v8.getHeapSpaceStatistics()) {
    if (!space.space_name.startsWith('new_') && space.space_name !== 'read_only_space') bytes += space.space_used_size;
  }
  return bytes;
}

/**
 * Sets the growing factor for the heap in use now, and again after every full GC for the life of
 * the process, unless its Node flags name it; false when they do.
 */
export function growOldGenerationForThroughput(): boolean {
  if (namesGrowingFactor(process.execArgv.join(' '))) return false;
  let percent = -1;
  const retune = (): void => {
    const next = growingPercentFor(oldGenerationBytes());
    if (next === percent) return;
    percent = next;
    v8.setFlagsFromString(`--heap-growing-percent=${next}`);
  };
  retune();
  // The old generation right after a full GC is what survived it: the next limit's base.
  const observer = new PerformanceObserver((list) => {
    const entries = list.getEntries();
    for (let i = 0; i < entries.length; i++) {
      if ((entries[i] as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) return retune();
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return true;
}
