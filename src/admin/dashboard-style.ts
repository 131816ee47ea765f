/** The dashboard page's CSS (dashboard-page.ts inlines it under the response's CSP nonce). */
export const DASHBOARD_STYLE = `
:root { color-scheme: light dark; --bg: #f6f7f9; --card: #fff; --fg: #1b1f24; --muted: #5c6670; --line: #d9dee3;
  --ok: #1a7f37; --bad: #cf222e; --warn: #bc4c00; --idle: #6e7781; --rate: #0969da; --p50: #1a7f37; --p99: #8250df; }
@media (prefers-color-scheme: dark) { :root { --bg: #0d1117; --card: #161b22; --fg: #e6edf3; --muted: #8d96a0;
  --line: #30363d; --ok: #3fb950; --bad: #f85149; --warn: #db6d28; --idle: #8d96a0; --rate: #4493f8; --p50: #3fb950; --p99: #ab7df8; } }
* { box-sizing: border-box; }
#svg-ns, [hidden] { display: none !important; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--fg); }
header { display: flex; flex-wrap: wrap; gap: 8px 12px; align-items: center; padding: 12px 16px; border-bottom: 1px solid var(--line); background: var(--card); }
header h1 { font-size: 18px; margin: 0 12px 0 0; }
#registry { display: inline-flex; flex-wrap: wrap; gap: 6px; }
main { padding: 16px; display: grid; gap: 16px; min-width: 0; }
#services { display: grid; gap: 16px; min-width: 0; }
.chip { display: inline-block; padding: 1px 8px; border-radius: 10px; border: 1px solid var(--line); font-size: 12px; white-space: nowrap; }
.ok { color: var(--ok); border-color: var(--ok); } .bad { color: var(--bad); border-color: var(--bad); }
.warn { color: var(--warn); border-color: var(--warn); } .idle { color: var(--idle); border-color: var(--idle); }
.muted { color: var(--muted); } .spacer { flex: 1; }
#error { display: none; padding: 8px 16px; color: #fff; background: var(--bad); }
#error.shown { display: block; }
section.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; min-width: 0; }
section.card > div.head { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; padding: 10px 12px; border-bottom: 1px solid var(--line); }
section.card h2 { font-size: 16px; margin: 0 8px 0 0; overflow-wrap: anywhere; }
div.scroll { overflow-x: auto; }
div.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 8px 16px; padding: 10px 12px; border-bottom: 1px solid var(--line); }
figure.chart { margin: 0; min-width: 0; }
figure.chart figcaption { display: flex; flex-wrap: wrap; gap: 4px 10px; font-size: 12px; }
figure.chart figcaption .title { font-weight: 600; flex: 1; }
figure.chart svg { display: block; width: 100%; height: 64px; border-bottom: 1px solid var(--line); }
figure.chart .scale { display: flex; justify-content: space-between; font-size: 11px; }
path.line { fill: none; stroke-width: 1.5; stroke-linejoin: round; stroke-linecap: round; }
.s-rate { stroke: var(--rate); color: var(--rate); } .s-p50 { stroke: var(--p50); color: var(--p50); }
.s-p99 { stroke: var(--p99); color: var(--p99); } .s-err { stroke: var(--bad); color: var(--bad); }
line.grid { stroke: var(--line); stroke-width: 1; }
p.note { margin: 0; padding: 8px 12px; font-size: 12px; border-bottom: 1px solid var(--line); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 12px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; font-weight: 600; color: var(--muted); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:last-child td { border-bottom: 0; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
ul.meta { list-style: none; margin: 0; padding: 0; }
ul.meta li { overflow-wrap: break-word; }
td.history { min-width: 260px; }
ul.history li { font-size: 12px; }
td.nowrap { white-space: nowrap; }
p.empty { padding: 24px; text-align: center; }
`;
