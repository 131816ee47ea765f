/**
 * Results: one row per system × tool × body, ratios against `direct` and `nginx-ka64` measured in
 * the same run (absolute figures move threefold between machines; ratios from one run compare),
 * written as Markdown and JSON to bench/results/<timestamp>.{md,json} and bench/results/latest.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LoadTool } from './load.js';
import { SPREAD_LIMIT_PERCENT } from './rounds.js';

export interface ResultRow {
  system: string;
  label: string;
  tool: LoadTool;
  bodyBytes: number;
  requestsPerSecond: number;
  /** (max − min) / median of the interleaved rounds' req/s, in %. */
  spreadPercent: number;
  p50Ms: number;
  p99Ms: number;
  /** undefined when the row has no proxy process (direct). */
  proxyCpuPercent: number | undefined;
  /** Proxy CPU time per request, µs (CPU % ÷ req/s): the figure that survives a machine's drift. */
  cpuMicrosPerRequest: number | undefined;
  rssIdleMiB: number | undefined;
  rssLoadedMiB: number | undefined;
  errors: number;
  non2xx: number;
  /** CPU used by processes outside the bench during the row's runs (highest run), % of one core. */
  otherCpuPercent: number;
  runs: number;
  /** Filled by addRatios. */
  vsDirect?: number | undefined;
  vsNginx?: number | undefined;
  vsCaddy?: number | undefined;
  /** p99 over nginx's p99 (same tool and body): with the paced tool, issue 21's "p99 at equal load ≤ 1.5× nginx". */
  p99VsNginx?: number | undefined;
}

export interface SkippedSystem {
  system: string;
  reason: string;
}

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  machine: { cpus: number; cpuModel: string; node: string; pinning: string; loadAverage: string };
  settings: Record<string, unknown>;
  rows: ResultRow[];
  skipped: SkippedSystem[];
}

export const REFERENCE_DIRECT = 'direct';
export const REFERENCE_NGINX = 'nginx-ka64';
export const REFERENCE_CADDY = 'caddy';

export function addRatios(rows: ResultRow[]): void {
  const find = (system: string, row: ResultRow): ResultRow | undefined =>
    rows.find((r) => r.system === system && r.tool === row.tool && r.bodyBytes === row.bodyBytes);
  for (const row of rows) {
    const direct = find(REFERENCE_DIRECT, row);
    const nginx = find(REFERENCE_NGINX, row);
    const caddy = find(REFERENCE_CADDY, row);
    row.vsCaddy = caddy && caddy.requestsPerSecond > 0 ? row.requestsPerSecond / caddy.requestsPerSecond : undefined;
    row.vsDirect = direct && direct.requestsPerSecond > 0 ? row.requestsPerSecond / direct.requestsPerSecond : undefined;
    row.vsNginx = nginx && nginx.requestsPerSecond > 0 ? row.requestsPerSecond / nginx.requestsPerSecond : undefined;
    row.p99VsNginx = nginx && nginx.p99Ms > 0 ? row.p99Ms / nginx.p99Ms : undefined;
  }
}

const integer = (n: number): string => Math.round(n).toLocaleString('en-US');
const fixed = (n: number | undefined, digits: number): string => (n === undefined ? '–' : n.toFixed(digits));
const body = (bytes: number): string => (bytes === 16384 ? '16 KiB' : `${bytes} B`);

export function toMarkdown(report: BenchReport): string {
  const header =
    '| system | tool | body | req/s | spread % | p50 ms | p99 ms | p99 × nginx | × direct | × nginx(ka64) | × Caddy | proxy CPU % | CPU µs/req | RSS idle → loaded MiB | errors/non-2xx | other CPU % |\n' +
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
  // Grouped by tool and body so each block reads top to bottom, fastest first.
  const sorted = [...report.rows].sort(
    (a, b) => a.tool.localeCompare(b.tool) || a.bodyBytes - b.bodyBytes || b.requestsPerSecond - a.requestsPerSecond,
  );
  const lines = sorted.map((r) =>
    [
      r.label,
      r.tool,
      body(r.bodyBytes),
      integer(r.requestsPerSecond),
      // Above SPREAD_LIMIT the rounds disagree too much for the median to mean much.
      `${r.spreadPercent.toFixed(0)}${r.spreadPercent > SPREAD_LIMIT_PERCENT ? ' ⚠' : ''}`,
      fixed(r.p50Ms, 2),
      fixed(r.p99Ms, 2),
      fixed(r.p99VsNginx, 2),
      fixed(r.vsDirect, 2),
      fixed(r.vsNginx, 2),
      fixed(r.vsCaddy, 2),
      r.proxyCpuPercent === undefined ? '–' : r.proxyCpuPercent.toFixed(0),
      fixed(r.cpuMicrosPerRequest, 1),
      r.rssIdleMiB === undefined ? '–' : `${r.rssIdleMiB.toFixed(0)} → ${fixed(r.rssLoadedMiB, 0)}`,
      `${r.errors}/${r.non2xx}`,
      r.otherCpuPercent.toFixed(0),
    ].join(' | '),
  );
  const skipped = report.skipped.map((s) => `- ${s.system}: ${s.reason}`);
  const settings = Object.entries(report.settings)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
    .join(' · ');
  return [
    `# Waypost bench ${report.startedAt}`,
    '',
    `${report.machine.cpus} × ${report.machine.cpuModel} · Node ${report.machine.node} · ${report.machine.pinning} · load average ${report.machine.loadAverage}`,
    '',
    settings,
    '',
    header,
    ...lines.map((l) => `| ${l} |`),
    '',
    'Systems are measured in interleaved rounds (A B C A B C …); req/s is the median, spread % = (max − min) / median over the rounds, ⚠ above 15 %.',
    'other CPU % = CPU used by processes outside the bench during the row (% of one core); above ~10 the row shared the cores and is noise.',
    '',
    ...(skipped.length > 0 ? ['Skipped:', ...skipped, ''] : []),
  ].join('\n');
}

/** Writes the report; returns the Markdown path. */
export function writeReport(report: BenchReport, resultsDir: string): string {
  mkdirSync(resultsDir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  const markdown = toMarkdown(report);
  const markdownPath = path.join(resultsDir, `${stamp}.md`);
  writeFileSync(markdownPath, markdown);
  writeFileSync(path.join(resultsDir, `${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(path.join(resultsDir, 'latest.md'), markdown);
  return markdownPath;
}
