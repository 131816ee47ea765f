/**
 * The per-second timeline of one sustained run (bench/stability.ts): throughput as the backends
 * count it (the same for every system), the proxy's CPU per request and RSS from /proc, other
 * jobs' CPU on the machine, and upstream connections the proxy opened (pool churn) from
 * /proc/net/tcp. Waypost rows add what the process saw itself (children/proxy-stats.mjs).
 */
import { existsSync, readFileSync } from 'node:fs';
import { median } from './rounds.js';
import { cpuSeconds, ForeignLoadMonitor, processTree, rssBytes } from './resources.js';

export interface Second {
  requests: number;
  cpuUsPerRequest: number;
  cpuPercent: number;
  rssMiB: number;
  otherCpuPercent: number;
  /** Upstream connections opened in this second (sockets to a backend port not seen before). */
  opened: number;
  inProcess?: InProcessStats;
}

export interface InProcessStats {
  t: number;
  gcMinorMs: number;
  gcMajorMs: number;
  collections: number;
  loopMaxMs: number;
  heapMiB: number;
  handles: number;
}

/** Local ports of established sockets whose remote end is one of `ports` on 127.0.0.1 (IPv4 table). */
function upstreamSocketPorts(ports: Set<number>): Set<number> {
  const found = new Set<number>();
  const text = readFileSync('/proc/net/tcp', 'utf8');
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4 || fields[3] !== '01') continue; // 01 = ESTABLISHED
    const remotePort = parseInt(fields[2]!.split(':')[1]!, 16);
    if (ports.has(remotePort)) found.add(parseInt(fields[1]!.split(':')[1]!, 16));
  }
  return found;
}

/** Samples once a second until stopped; `served()` is the backends' running request count. */
export class TimelineSampler {
  readonly seconds: Second[] = [];
  readonly #tree: number[];
  readonly #seen: Set<number>;
  readonly #timer: NodeJS.Timeout;
  #served: number;
  #cpu: number;
  #foreign = new ForeignLoadMonitor();

  constructor(
    readonly pid: number,
    readonly backendPorts: Set<number>,
    readonly served: () => number,
  ) {
    this.#tree = processTree(pid);
    this.#seen = upstreamSocketPorts(backendPorts);
    this.#served = served();
    this.#cpu = cpuSeconds(pid, this.#tree);
    this.#timer = setInterval(() => this.#sample(), 1000);
  }

  stop(): Second[] {
    clearInterval(this.#timer);
    return this.seconds;
  }

  #sample(): void {
    const served = this.served();
    const cpu = cpuSeconds(this.pid, this.#tree);
    const requests = served - this.#served;
    const cpuDelta = cpu - this.#cpu;
    let opened = 0;
    for (const port of upstreamSocketPorts(this.backendPorts)) {
      if (this.#seen.has(port)) continue;
      this.#seen.add(port);
      opened++;
    }
    this.seconds.push({
      requests,
      cpuUsPerRequest: requests > 0 ? (cpuDelta / requests) * 1e6 : 0,
      cpuPercent: cpuDelta * 100,
      rssMiB: rssBytes(this.pid, this.#tree) / 1048576,
      otherCpuPercent: this.#foreign.stop(),
      opened,
    });
    this.#served = served;
    this.#cpu = cpu;
    this.#foreign = new ForeignLoadMonitor();
  }
}

/** Attach the proxy's own per-second lines to the seconds they close (by wall time, in order). */
export function attachInProcessStats(seconds: Second[], file: string, startedAt: number): void {
  if (!existsSync(file)) return;
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as InProcessStats);
  for (const [index, second] of seconds.entries()) {
    const end = startedAt + (index + 1) * 1000;
    second.inProcess = lines.find((line) => line.t > end - 1000 && line.t <= end + 500);
  }
}

export interface TimelineSummary {
  medianRps: number;
  minRps: number;
  maxRps: number;
  medianCpuUs: number;
  /** Seconds whose CPU per request was over 1.25× the median. */
  slowSeconds: number;
  /** Of those, how many had other jobs using ≥ 25 % of a core, and how many ≥ 50 ms of GC. */
  slowWithOtherLoad: number;
  slowWithGc: number;
  opened: number;
  rssFirstMiB: number;
  rssLastMiB: number;
}

export function summarize(seconds: Second[]): TimelineSummary {
  // The first and last seconds are partial (wrk starting and stopping).
  const steady = seconds.length > 4 ? seconds.slice(1, -1) : seconds;
  const rps = steady.map((s) => s.requests);
  const medianCpuUs = median(steady.map((s) => s.cpuUsPerRequest));
  const slow = steady.filter((s) => s.cpuUsPerRequest > medianCpuUs * 1.25);
  return {
    medianRps: median(rps),
    minRps: Math.min(...rps),
    maxRps: Math.max(...rps),
    medianCpuUs,
    slowSeconds: slow.length,
    slowWithOtherLoad: slow.filter((s) => s.otherCpuPercent >= 25).length,
    slowWithGc: slow.filter((s) => (s.inProcess?.gcMinorMs ?? 0) + (s.inProcess?.gcMajorMs ?? 0) >= 50).length,
    opened: seconds.reduce((sum, s) => sum + s.opened, 0),
    rssFirstMiB: steady[0]?.rssMiB ?? 0,
    rssLastMiB: steady.at(-1)?.rssMiB ?? 0,
  };
}

/** The timeline as fixed-width rows, one a second. */
export function formatTimeline(seconds: Second[]): string {
  const header = '   s   req/s  µs/req  cpu%  other%  opened  rss MiB  gc minor/major ms  loop max ms  heap MiB  handles';
  const rows = seconds.map((s, index) => {
    const p = s.inProcess;
    const gc = p ? `${p.gcMinorMs.toFixed(1)}/${p.gcMajorMs.toFixed(1)}` : '–';
    return [
      String(index + 1).padStart(4),
      String(s.requests).padStart(7),
      s.cpuUsPerRequest.toFixed(1).padStart(7),
      s.cpuPercent.toFixed(0).padStart(5),
      s.otherCpuPercent.toFixed(0).padStart(7),
      String(s.opened).padStart(7),
      s.rssMiB.toFixed(1).padStart(8),
      gc.padStart(18),
      (p ? p.loopMaxMs.toFixed(1) : '–').padStart(12),
      (p ? p.heapMiB.toFixed(1) : '–').padStart(9),
      (p ? String(p.handles) : '–').padStart(8),
    ].join(' ');
  });
  return [header, ...rows].join('\n');
}
