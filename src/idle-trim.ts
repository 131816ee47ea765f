/**
 * Gives back the young generation V8 grew while the proxy started (issue 21 item 4).
 *
 * Start-up allocates fast, so V8 grows the young generation to its maximum (2 × 16 MiB here);
 * it shrinks it again only at a scavenge that finds the allocation rate of the last seconds low.
 * An idle proxy allocates so little that it hardly scavenges at all, and those pages stay
 * resident until V8's memory reducer happens to run a full GC (10-20 s later, not every run).
 * So, once a second for at most 30 s after the start, while the process is idle, this asks for
 * one young-generation scavenge (under a millisecond), and stops once the young generation is
 * back at its minimum. A process under load is skipped: it scavenges on its own.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

type GcFunction = (options: { type: 'minor' | 'major' }) => void;

const TICK_MS = 1000;
const MAX_TICKS = 30;
/** CPU time per tick above which the process counts as busy (2 % of a core). */
const BUSY_CPU_MICROS = 20_000;
/** V8's minimum young generation on 64-bit (one 1 MiB semi-space as heap statistics report it). */
const YOUNG_MINIMUM_BYTES = 1024 * 1024;

function youngGenerationBytes(): number {
  return v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0;
}

/** node's gc(): the global one under --expose-gc, else one made for a fresh context. */
function gcFunction(): GcFunction {
  const exposed = (globalThis as { gc?: GcFunction }).gc;
  if (typeof exposed === 'function') return exposed;
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as GcFunction;
  // Contexts made later (vm users) get no gc() they did not ask for.
  v8.setFlagsFromString('--no-expose-gc');
  return gc;
}

/** Starts the trim; the returned function stops it early (it stops by itself after 30 s). */
export function trimYoungGenerationWhileIdle(): () => void {
  const gc = gcFunction();
  let ticks = 0;
  let cpuAtLastTick = process.cpuUsage();
  const timer = setInterval(() => {
    const cpu = process.cpuUsage(cpuAtLastTick);
    cpuAtLastTick = process.cpuUsage();
    if (++ticks > MAX_TICKS || youngGenerationBytes() <= YOUNG_MINIMUM_BYTES) {
      clearInterval(timer);
      return;
    }
    if (cpu.user + cpu.system > BUSY_CPU_MICROS) return;
    gc({ type: 'minor' });
  }, TICK_MS).unref();
  return () => clearInterval(timer);
}
