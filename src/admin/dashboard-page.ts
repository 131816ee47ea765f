/**
 * The dashboard's one HTML page: inline CSS and JS, no external assets (the
 * admin port often runs where there is no internet). `NONCE` marks where each
 * response puts its CSP nonce.
 *
 * The script reads only the admin JSON API: `/v1/services`, `/v1/services/{s}`,
 * and `/v1/stats` when the server has it (else `/readyz` for the connection
 * state). Every registry string reaches the DOM through `textContent`, never as
 * markup; the CSP also demands Trusted Types, so an HTML sink would throw.
 */

import { ROUTES_SCRIPT, ROUTES_SECTION } from './dashboard-routes.js';

export const NONCE = '__WAYPOST_NONCE__';

/** Poll period of the page; a change shows within this time plus one round trip. */
export const DASHBOARD_POLL_MS = 1500;

const STYLE = `
:root { color-scheme: light dark; --bg: #f6f7f9; --card: #fff; --fg: #1b1f24; --muted: #5c6670; --line: #d9dee3;
  --ok: #1a7f37; --bad: #cf222e; --warn: #bc4c00; --idle: #6e7781; }
@media (prefers-color-scheme: dark) { :root { --bg: #0d1117; --card: #161b22; --fg: #e6edf3; --muted: #8d96a0;
  --line: #30363d; --ok: #3fb950; --bad: #f85149; --warn: #db6d28; --idle: #8d96a0; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--fg); }
header { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; padding: 12px 20px; border-bottom: 1px solid var(--line); background: var(--card); }
header h1 { font-size: 18px; margin: 0 12px 0 0; }
#registry { display: inline-flex; flex-wrap: wrap; gap: 6px; }
main { padding: 16px 20px; display: grid; gap: 16px; }
.chip { display: inline-block; padding: 1px 8px; border-radius: 10px; border: 1px solid var(--line); font-size: 12px; white-space: nowrap; }
.ok { color: var(--ok); border-color: var(--ok); } .bad { color: var(--bad); border-color: var(--bad); }
.warn { color: var(--warn); border-color: var(--warn); } .idle { color: var(--idle); border-color: var(--idle); }
.muted { color: var(--muted); } .spacer { flex: 1; }
#error { display: none; padding: 8px 20px; color: #fff; background: var(--bad); }
#error.shown { display: block; }
section.service { background: var(--card); border: 1px solid var(--line); border-radius: 6px; overflow-x: auto; }
section.service > div.head { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; padding: 10px 12px; border-bottom: 1px solid var(--line); }
section.service h2 { font-size: 16px; margin: 0 8px 0 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 12px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; font-weight: 600; color: var(--muted); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:last-child td { border-bottom: 0; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
ul.meta { list-style: none; margin: 0; padding: 0; }
ul.meta li { word-break: break-all; }
p.empty { padding: 24px; text-align: center; }
`;

/*
 * Plain ES2017 in a string: no backticks or template placeholders inside, so it
 * survives this TypeScript template literal unchanged.
 */
const SCRIPT = `
'use strict';
(function () {
  var POLL_MS = ${DASHBOARD_POLL_MS};
  var statsAvailable = true;
  var lastRendered = '';
  var previous = null;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function chip(text, tone) { return el('span', 'chip ' + (tone || ''), text); }

  function getJson(path) {
    return fetch(path, { cache: 'no-store', headers: { accept: 'application/json' } }).then(function (res) {
      if (!res.ok) {
        var err = new Error('HTTP ' + res.status + ' from ' + path);
        err.status = res.status;
        throw err;
      }
      return res.json();
    });
  }

  function optional(promise) {
    return promise.catch(function (err) { if (err.status === 404) return null; throw err; });
  }

  function load() {
    var statsPromise = statsAvailable
      ? optional(getJson('/v1/stats')).then(function (stats) { if (!stats) statsAvailable = false; return stats; })
      : Promise.resolve(null);
    // Without /v1/stats, /readyz still tells whether the registry is connected.
    var readyPromise = statsPromise.then(function (stats) {
      return stats ? null : getJson('/readyz').catch(function (err) { return err.status === 503 ? null : Promise.reject(err); });
    });
    var servicesPromise = getJson('/v1/services').then(function (list) {
      return Promise.all(list.services.map(function (s) {
        return optional(getJson('/v1/services/' + encodeURIComponent(s.name)));
      }));
    });
    return Promise.all([servicesPromise, statsPromise, readyPromise]).then(function (parts) {
      return { services: parts[0].filter(Boolean), stats: parts[1], ready: parts[2] };
    });
  }

  /** Request rate and 5xx share per service since the previous poll (needs /v1/stats). */
  function rates(stats, now) {
    var result = {};
    if (!stats) { previous = null; return result; }
    var counts = {};
    stats.services.forEach(function (s) { counts[s.name] = { requests: s.requests, errors: s.errors }; });
    if (previous) {
      var seconds = Math.max((now - previous.at) / 1000, 0.001);
      Object.keys(counts).forEach(function (name) {
        var before = previous.counts[name];
        if (!before) return;
        var requests = counts[name].requests - before.requests;
        var errors = counts[name].errors - before.errors;
        if (requests < 0) return;
        result[name] = { perSecond: requests / seconds, errorRate: requests > 0 ? errors / requests : 0 };
      });
    }
    previous = { at: now, counts: counts };
    return result;
  }

  function model(data, now) {
    var statsBy = {};
    if (data.stats) data.stats.services.forEach(function (s) { statsBy[s.name] = s; });
    var rateBy = rates(data.stats, now);
    var registry = data.stats ? data.stats.registry
      : data.ready ? { store: null, connected: data.ready.registryConnected, synced: data.ready.registrySynced, revision: null }
      : null;
    return {
      registry: registry,
      services: data.services.map(function (view) {
        var stats = statsBy[view.name] || null;
        var live = {};
        if (stats) stats.instances.forEach(function (i) { live[i.id] = i; });
        var rate = rateBy[view.name] || null;
        return {
          name: view.name,
          revision: view.revision,
          panic: stats ? stats.panic : null,
          selfPreservation: stats ? stats.selfPreservation : null,
          ejections: stats ? stats.ejections : null,
          perSecond: rate ? Math.round(rate.perSecond * 10) / 10 : null,
          errorRate: rate ? rate.errorRate : null,
          instances: view.instances.map(function (i) {
            var l = live[i.id] || null;
            return {
              id: i.id, host: i.host, port: i.port, protocol: i.protocol || 'http1', zone: i.zone, weight: i.weight, status: i.status,
              health: i.health, tags: i.tags || [], metadata: i.metadata || {},
              inflight: l ? l.inflight : null, errorRate: l ? l.recentErrorRate : null
            };
          })
        };
      })
    };
  }

  function dash(value) { return value === null || value === undefined ? '\\u2014' : value; }
  function percent(value) { return value === null || value === undefined ? '\\u2014' : (value * 100).toFixed(1) + ' %'; }
  function plural(n, word) { return n + ' ' + word + (n === 1 ? '' : 's'); }
  function address(host, port) { return (host.indexOf(':') >= 0 ? '[' + host + ']' : host) + ':' + port; }
  var HEALTH_TONE = { healthy: 'ok', unhealthy: 'bad', ejected: 'warn', draining: 'idle' };

  function renderRegistry(registry) {
    var box = document.getElementById('registry');
    if (!registry) { box.replaceChildren(chip('registry state unknown', 'idle')); return; }
    var parts = [chip(registry.connected ? 'registry connected' : 'registry disconnected', registry.connected ? 'ok' : 'bad')];
    if (registry.store) parts.push(chip('store ' + registry.store));
    if (!registry.synced) parts.push(chip('not synced', 'warn'));
    if (registry.revision !== null && registry.revision !== undefined) parts.push(chip('revision ' + registry.revision));
    box.replaceChildren.apply(box, parts);
  }

  function instanceRow(i) {
    var row = el('tr');
    row.dataset.instance = i.id;
    var meta = el('ul', 'meta mono');
    Object.keys(i.metadata).sort().forEach(function (key) { meta.append(el('li', '', key + '=' + i.metadata[key])); });
    var health = el('td');
    health.append(chip(i.health, HEALTH_TONE[i.health] || 'idle'));
    var cells = [
      el('td', 'mono', i.id), el('td', 'mono', address(i.host, i.port)), el('td', '', i.protocol), el('td', '', i.zone || '\\u2014'),
      el('td', 'num', i.weight), el('td', '', i.status), health,
      el('td', 'num', dash(i.inflight)), el('td', 'num', percent(i.errorRate)),
      el('td', '', i.tags.length ? i.tags.join(', ') : '\\u2014')
    ];
    var metaCell = el('td');
    metaCell.append(meta);
    cells.push(metaCell);
    row.append.apply(row, cells);
    return row;
  }

  function serviceSection(s) {
    var section = el('section', 'service');
    section.dataset.service = s.name;
    var head = el('div', 'head');
    var healthy = s.instances.filter(function (i) { return i.health === 'healthy'; }).length;
    head.append(el('h2', '', s.name),
      chip(healthy + '/' + s.instances.length + ' healthy', healthy === s.instances.length ? 'ok' : healthy === 0 ? 'bad' : 'warn'),
      chip('revision ' + s.revision));
    if (s.panic) head.append(chip('panic mode', 'bad'));
    if (s.selfPreservation) head.append(chip('self-preservation', 'warn'));
    if (s.ejections !== null) head.append(chip('ejections ' + s.ejections, s.ejections > 0 ? 'warn' : ''));
    if (s.perSecond !== null) head.append(chip(s.perSecond + ' req/s'));
    if (s.errorRate !== null) head.append(chip('5xx ' + percent(s.errorRate), s.errorRate > 0 ? 'bad' : ''));
    var table = el('table');
    var headRow = el('tr');
    ['Instance', 'Address', 'Protocol', 'Zone', 'Weight', 'Status', 'Health', 'In flight', 'Error rate', 'Tags', 'Metadata'].forEach(function (title, n) {
      headRow.append(el('th', n === 4 || n === 7 || n === 8 ? 'num' : '', title));
    });
    var thead = el('thead');
    thead.append(headRow);
    var tbody = el('tbody');
    s.instances.forEach(function (i) { tbody.append(instanceRow(i)); });
    table.append(thead, tbody);
    section.append(head, table);
    return section;
  }

  function render(m) {
    renderRegistry(m.registry);
    var total = 0, healthy = 0;
    m.services.forEach(function (s) {
      total += s.instances.length;
      healthy += s.instances.filter(function (i) { return i.health === 'healthy'; }).length;
    });
    document.getElementById('totals').textContent =
      plural(m.services.length, 'service') + ' \\u00b7 ' + plural(total, 'instance') + ' \\u00b7 ' + healthy + ' healthy';
    var list = document.getElementById('services');
    if (m.services.length === 0) { list.replaceChildren(el('p', 'empty muted', 'No services registered.')); return; }
    list.replaceChildren.apply(list, m.services.map(serviceSection));
  }

  function tick() {
    load().then(function (data) {
      var now = Date.now();
      var m = model(data, now);
      var text = JSON.stringify(m);
      // Rebuild only on change, so text selection and scrolling survive idle polls.
      if (text !== lastRendered) { render(m); lastRendered = text; }
      document.getElementById('error').className = '';
      document.getElementById('updated').textContent = 'updated ' + new Date(now).toLocaleTimeString();
      document.body.dataset.state = 'live';
    }).catch(function (err) {
      var box = document.getElementById('error');
      box.textContent = 'Cannot read the admin API: ' + (err && err.message ? err.message : String(err));
      box.className = 'shown';
      document.body.dataset.state = 'error';
    }).then(function () { setTimeout(tick, POLL_MS); });
  }

  tick();
})();
`;

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Waypost dashboard</title>
<link rel="icon" href="data:,">
<style nonce="${NONCE}">${STYLE}</style>
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
<main id="services"><noscript>This page needs JavaScript; the same data is at /v1/services.</noscript></main>
<div id="routes-area">${ROUTES_SECTION}</div>
<script nonce="${NONCE}">${SCRIPT}</script>
<script nonce="${NONCE}">${ROUTES_SCRIPT}</script>
</body>
</html>
`;
