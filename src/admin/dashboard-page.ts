/**
 * The dashboard's one HTML page: inline CSS and JS, no external assets (the
 * admin port often runs where there is no internet). `NONCE` marks where each
 * response puts its CSP nonce. The style is in dashboard-style.ts, the script in
 * dashboard-script.ts (charts: dashboard-charts.ts).
 */
import { DASHBOARD_SCRIPT } from './dashboard-script.js';
import { DASHBOARD_STYLE } from './dashboard-style.js';

export const NONCE = '__WAYPOST_NONCE__';

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Waypost dashboard</title>
<link rel="icon" href="data:,">
<style nonce="${NONCE}">${DASHBOARD_STYLE}</style>
</head>
<body data-state="loading">
<header>
  <h1>Waypost</h1>
  <span id="registry"></span>
  <span id="totals" class="muted"></span>
  <span class="spacer"></span>
  <span id="updated" class="muted">loading\u2026</span>
</header>
<div id="error" role="alert"></div>
<svg id="svg-ns" hidden aria-hidden="true"></svg>
<main>
<section id="overview" class="card" hidden></section>
<div id="services"><noscript>This page needs JavaScript; the same data is at /v1/services.</noscript></div>
<section id="routes" class="card" hidden></section>
</main>
<script nonce="${NONCE}">${DASHBOARD_SCRIPT}</script>
</body>
</html>
`;
