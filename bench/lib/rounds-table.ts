/**
 * The table of an interleaved-rounds bench (bench/h2.ts, bench/h1-vs-main.ts): per group
 * (scenario) and system the median req/s, its spread over the rounds, latency, proxy CPU and
 * ratios against named references from the same group, as Markdown and JSON in bench/results/.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './processes.js';
import { median, runInterleaved, spreadPercent, SPREAD_LIMIT_PERCENT, type Contender, type RoundSample } from './rounds.js';

/** What every load tool gives per run, whatever it calls it. */
export interface RunFigures {
  requestsPerSecond: number;
  /** The latency the tool reports (h2load: mean; wrk: p99). */
  latencyMs: number;
  /** h2load: max; wrk: p50. */
  secondLatencyMs: number;
  errors: number;
  non2xx: number;
}

export interface RoundsRow {
  group: string;
  system: string;
  label: string;
  rounds: number;
  requestsPerSecond: number;
  /** Every round's req/s, in round order. */
  perRound: number[];
  spreadPercent: number;
  latencyMs: number;
  secondLatencyMs: number;
  proxyCpuPercent: number | undefined;
  /**
   * Proxy CPU time per request, µs (median over rounds). Steadier than req/s when other work
   * shares the machine: a proxy starved of its core serves less but spends about the same per request.
   */
  cpuMicrosPerRequest: number | undefined;
  /** The proxy's highest RSS over all rounds, MiB: what load grows a process to. */
  peakRssMiB: number | undefined;
  errors: number;
  non2xx: number;
  otherCpuPercent: number;
  /** req/s over each reference's req/s (same group), by reference id. */
  ratios: Record<string, number | undefined>;
}

export function summarize(group: string, system: string, label: string, samples: RoundSample<RunFigures>[]): RoundsRow {
  const rps = samples.map((s) => s.result.requestsPerSecond);
  const cpu = samples.flatMap((s) => (s.proxyCpuPercent === undefined ? [] : [s.proxyCpuPercent]));
  const perRequest = samples.flatMap((s) =>
    s.proxyCpuPercent === undefined || s.result.requestsPerSecond <= 0 ? [] : [(s.proxyCpuPercent / 100) * (1e6 / s.result.requestsPerSecond)],
  );
  const peakRss = samples.flatMap((s) => (s.proxyPeakRssBytes === undefined ? [] : [s.proxyPeakRssBytes]));
  return {
    group,
    system,
    label,
    rounds: samples.length,
    requestsPerSecond: median(rps),
    perRound: rps,
    spreadPercent: spreadPercent(rps),
    latencyMs: median(samples.map((s) => s.result.latencyMs)),
    secondLatencyMs: median(samples.map((s) => s.result.secondLatencyMs)),
    proxyCpuPercent: cpu.length > 0 ? median(cpu) : undefined,
    cpuMicrosPerRequest: perRequest.length > 0 ? median(perRequest) : undefined,
    peakRssMiB: peakRss.length > 0 ? Math.max(...peakRss) / 2 ** 20 : undefined,
    errors: samples.reduce((sum, s) => sum + s.result.errors, 0),
    non2xx: samples.reduce((sum, s) => sum + s.result.non2xx, 0),
    otherCpuPercent: samples.length > 0 ? Math.max(...samples.map((s) => s.otherCpuPercent)) : 0,
    ratios: {},
  };
}

/**
 * One group: an unrecorded warm-up per contender (JIT, pools, Go's scheduler), then `rounds`
 * interleaved runs of `seconds` each, one summary row per contender that measured at least once.
 * The warm-up is WARM_UP_SECONDS: after 1 s Waypost still ran at a third of its warm rate
 * (V8 was still optimizing: 426 vs 136 µs of CPU per request in one multicore run).
 */
const WARM_UP_SECONDS = 3;

export async function measureGroup(
  group: string,
  contenders: Contender[],
  rounds: number,
  seconds: number,
  measure: (contender: Contender, seconds: number) => Promise<RunFigures>,
): Promise<RoundsRow[]> {
  for (const c of contenders) await measure(c, WARM_UP_SECONDS).catch(() => undefined);
  const samples = await runInterleaved(
    contenders,
    rounds,
    (c) => measure(c, seconds),
    (id, s) =>
      `${group}/${id}: ${Math.round(s.result.requestsPerSecond)} req/s, CPU ${s.proxyCpuPercent?.toFixed(0) ?? '–'} %, ` +
      `errors ${s.result.errors}, non-2xx ${s.result.non2xx}, other CPU ${s.otherCpuPercent.toFixed(0)} %`,
  );
  return contenders.flatMap((c) => {
    const runs = samples.get(c.definition.id) ?? [];
    return runs.length > 0 ? [summarize(group, c.definition.id, c.definition.label, runs)] : [];
  });
}

/** Fills `ratios` for every row against each reference system id present in its group. */
export function addReferenceRatios(rows: RoundsRow[], references: string[]): void {
  for (const row of rows) {
    for (const reference of references) {
      const base = rows.find((r) => r.group === row.group && r.system === reference);
      row.ratios[reference] = base && base.requestsPerSecond > 0 ? row.requestsPerSecond / base.requestsPerSecond : undefined;
    }
  }
}

/** The header line: CPUs, Node and the load average (other work on the machine skews every figure). */
export function machineLine(loadAtStart: string): string {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model ?? 'unknown'} · Node ${process.version} · load average ${loadAtStart} at start, ${os.loadavg()[0]!.toFixed(2)} at end`;
}

export interface RoundsReport {
  title: string;
  startedAt: string;
  machine: string;
  settings: string;
  /** Column names of the two latency figures. */
  latencyColumns: [string, string];
  references: { id: string; label: string }[];
  groups: { id: string; title: string; notes: string[] }[];
  rows: RoundsRow[];
  skipped: { system: string; reason: string }[];
}

const integer = (n: number): string => Math.round(n).toLocaleString('en-US');
const fixed = (n: number | undefined, digits: number): string => (n === undefined ? '–' : n.toFixed(digits));

export function toMarkdown(report: RoundsReport): string {
  const out = [`# ${report.title} ${report.startedAt}`, '', report.machine, '', report.settings, ''];
  for (const group of report.groups) {
    const rows = report.rows.filter((r) => r.group === group.id).sort((a, b) => b.requestsPerSecond - a.requestsPerSecond);
    out.push(`## ${group.title}`, '');
    out.push(
      `| system | req/s (median) | spread % | ${report.latencyColumns[0]} | ${report.latencyColumns[1]} | proxy CPU % | CPU µs/req | peak RSS MiB | ${report.references.map((r) => `× ${r.label}`).join(' | ')} | errors/non-2xx | other CPU % | per round |`,
      `|---|---:|---:|---:|---:|---:|---:|---:|${report.references.map(() => '---:|').join('')}---:|---:|---|`,
    );
    for (const r of rows) {
      const noisy = r.spreadPercent > SPREAD_LIMIT_PERCENT ? ' ⚠' : '';
      out.push(
        `| ${r.label} | ${integer(r.requestsPerSecond)} | ${r.spreadPercent.toFixed(0)}${noisy} | ${fixed(r.latencyMs, 2)} | ${fixed(r.secondLatencyMs, 2)} | ${fixed(r.proxyCpuPercent, 0)} | ${fixed(r.cpuMicrosPerRequest, 0)} | ${fixed(r.peakRssMiB, 0)} | ` +
          `${report.references.map((ref) => fixed(r.ratios[ref.id], 2)).join(' | ')} | ${r.errors}/${r.non2xx} | ${r.otherCpuPercent.toFixed(0)} | ${r.perRound.map(integer).join(' ')} |`,
      );
    }
    out.push('', ...group.notes.map((n) => `- ${n}`), ...(group.notes.length > 0 ? [''] : []));
  }
  out.push(
    `spread = (max − min) / median over the rounds; ⚠ = above ${SPREAD_LIMIT_PERCENT} %: treat that row as noise. ` +
      'CPU µs/req = proxy CPU time per request (lower is better; the steadier figure on a shared machine). ' +
      'peak RSS = the proxy process tree\'s highest resident memory over all its rounds. ' +
      'other CPU % = CPU of processes outside the bench during the row (highest round), % of one core: above ~10 the cores were shared.',
    '',
  );
  if (report.skipped.length > 0) out.push('Skipped:', ...report.skipped.map((s) => `- ${s.system}: ${s.reason}`), '');
  return out.join('\n');
}

/** Writes `<prefix>-<stamp>.md/.json` and `<prefix>-latest.md`; returns the Markdown path. */
export function writeRoundsReport(report: RoundsReport, resultsDir: string, prefix: string): string {
  mkdirSync(resultsDir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  const markdown = toMarkdown(report);
  const markdownPath = path.join(resultsDir, `${prefix}-${stamp}.md`);
  writeFileSync(markdownPath, markdown);
  writeFileSync(path.join(resultsDir, `${prefix}-${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(path.join(resultsDir, `${prefix}-latest.md`), markdown);
  return markdownPath;
}

/**
 * The end of a rounds bench: ratios against `references`, the machine line, the report written to
 * bench/results/<prefix>-* and printed. Returns the exit code: 1 when no row was measured.
 */
export function publishRoundsReport(report: Omit<RoundsReport, 'machine'>, loadAtStart: string, prefix: string): number {
  addReferenceRatios(report.rows, report.references.map((r) => r.id));
  const file = writeRoundsReport({ ...report, machine: machineLine(loadAtStart) }, path.join(REPO_ROOT, 'bench', 'results'), prefix);
  console.log(`\n${readFileSync(file, 'utf8')}`);
  console.log(`written: ${path.relative(REPO_ROOT, file)} (+ .json, ${prefix}-latest.md)`);
  return report.rows.length > 0 ? 0 : 1;
}
