/**
 * What a proxy costs the machine, read from /proc: RSS (VmRSS) and CPU time (utime + stime).
 * Both are summed over the process and its descendants (nginx's worker does the work, its
 * master only waits), so a system is measured whole however it is built.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const CLOCK_TICKS = readClockTicks();

function readClockTicks(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** Fields of /proc/PID/stat after the command name (which may contain spaces). */
function statFields(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** `pid` and every live descendant. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (!fields) continue;
    const parent = Number(fields[1]); // field 4 overall: ppid
    const list = children.get(parent) ?? [];
    list.push(Number(entry));
    children.set(parent, list);
  }
  const tree: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const next = queue.shift()!;
    tree.push(next);
    queue.push(...(children.get(next) ?? []));
  }
  return tree;
}

function rssBytesOf(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Resident memory of the whole tree (or of the given pids), in bytes. */
export function rssBytes(pid: number, tree = processTree(pid)): number {
  return tree.reduce((sum, p) => sum + rssBytesOf(p), 0);
}

/** CPU seconds (user + system) the whole tree (or the given pids) has used so far. */
export function cpuSeconds(pid: number, tree = processTree(pid)): number {
  let ticks = 0;
  for (const p of tree) {
    const fields = statFields(p);
    if (fields) ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  }
  return ticks / CLOCK_TICKS;
}

export interface ResourceSample {
  /** CPU used over the window as a percentage of one core. */
  cpuPercent: number;
  /** Highest RSS seen during the window, bytes. */
  peakRssBytes: number;
}

/**
 * Watches a process while load runs: CPU over the whole window and the peak RSS, sampled
 * every 250 ms (the peak is what a capacity plan needs). The process tree is read once at the
 * start: the sampler shares a core with the load generator, so it must stay cheap.
 */
export class ResourceMonitor {
  private readonly tree: number[];
  private readonly startCpu: number;
  private readonly startTime = process.hrtime.bigint();
  private peak: number;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number) {
    this.tree = processTree(pid);
    this.startCpu = cpuSeconds(pid, this.tree);
    this.peak = rssBytes(pid, this.tree);
    this.timer = setInterval(() => {
      this.peak = Math.max(this.peak, rssBytes(this.pid, this.tree));
    }, 250);
  }

  stop(): ResourceSample {
    clearInterval(this.timer);
    this.peak = Math.max(this.peak, rssBytes(this.pid, this.tree));
    const elapsed = Number(process.hrtime.bigint() - this.startTime) / 1e9;
    const cpu = cpuSeconds(this.pid, this.tree) - this.startCpu;
    return { cpuPercent: elapsed > 0 ? (cpu / elapsed) * 100 : 0, peakRssBytes: this.peak };
  }
}

/** Busy CPU seconds of the whole machine (all cores) from /proc/stat. */
function machineBusySeconds(): number {
  const [cpuLine = ''] = readFileSync('/proc/stat', 'utf8').split('\n');
  const [, user, nice, system, , , irq, softirq, steal] = cpuLine.trim().split(/\s+/).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / CLOCK_TICKS;
}

/** CPU seconds of this process, its live descendants and the children it has already reaped. */
function benchCpuSeconds(): number {
  const self = statFields(process.pid);
  const reaped = self ? (Number(self[13]) + Number(self[14])) / CLOCK_TICKS : 0; // cutime, cstime
  return cpuSeconds(process.pid) + reaped;
}

/**
 * CPU used by everything that is not the bench (other jobs on the machine) over a window, in % of
 * one core. Nonzero means the figures of that window shared the cores with someone else.
 */
export class ForeignLoadMonitor {
  private readonly startBusy = machineBusySeconds();
  private readonly startBench = benchCpuSeconds();
  private readonly startTime = process.hrtime.bigint();

  stop(): number {
    const elapsed = Number(process.hrtime.bigint() - this.startTime) / 1e9;
    const foreign = machineBusySeconds() - this.startBusy - (benchCpuSeconds() - this.startBench);
    return elapsed > 0 ? Math.max(0, (foreign / elapsed) * 100) : 0;
  }
}
