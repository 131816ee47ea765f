/**
 * The dashboard page's script (plain ES2017 in a string: no backticks or template
 * placeholders inside, so it survives this TypeScript template literal unchanged).
 *
 * It reads only the admin JSON API: `/v1/services`, `/v1/services/{s}`, and `/v1/stats`
 * when the server has it (else `/readyz` for the connection state). Every registry string
 * reaches the DOM through `textContent` or an attribute, never as markup; the CSP also
 * demands Trusted Types, so an HTML sink would throw. Each part of the page (overview,
 * routes, and per service its head, charts and instance table) is rebuilt only when its
 * data changed, so text selection and open details survive polls that change other parts.
 */
import { CHARTS_SCRIPT } from './dashboard-charts.js';

/** Poll period of the page; a change shows within this time plus one round trip. */
export const DASHBOARD_POLL_MS = 1500;

export const DASHBOARD_SCRIPT = `
'use strict';
(function () {
  var POLL_MS = ${DASHBOARD_POLL_MS};
  var statsAvailable = true;
  /** What each part shows now (JSON), so an unchanged part is left alone. */
  var shown = { registry: '', overview: '', routes: '', services: {} };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function chip(text, tone) { return el('span', 'chip ' + (tone || ''), text); }
  ${CHARTS_SCRIPT}
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

  function model(data) {
    var stats = data.stats;
    var statsBy = {};
    if (stats) stats.services.forEach(function (s) { statsBy[s.name] = s; });
    var timing = stats ? { at: stats.traffic.at, start: stats.traffic.start, bucketSeconds: stats.traffic.bucketSeconds } : null;
    var registry = stats ? stats.registry
      : data.ready ? { store: null, connected: data.ready.registryConnected, synced: data.ready.registrySynced, revision: null }
      : null;
    return {
      registry: registry,
      timing: timing,
      total: stats ? stats.traffic.total : null,
      routes: stats ? stats.routes : null,
      services: data.services.map(function (view) {
        var s = statsBy[view.name] || null;
        var live = {};
        if (s) s.instances.forEach(function (i) { live[i.id] = i; });
        var minute = s && s.traffic ? lastMinute(s.traffic, timing) : null;
        return {
          name: view.name,
          revision: view.revision,
          panic: s ? s.panic : null,
          selfPreservation: s ? s.selfPreservation : null,
          ejections: s ? s.ejections : null,
          perSecond: minute ? minute.perSecond : null,
          errorRate: minute ? minute.errorRate : null,
          traffic: s ? s.traffic : null,
          instances: view.instances.map(function (i) {
            var l = live[i.id] || null;
            return {
              id: i.id, host: i.host, port: i.port, protocol: i.protocol || 'http1', zone: i.zone, weight: i.weight, status: i.status,
              health: i.health, tags: i.tags || [], metadata: i.metadata || {},
              inflight: l ? l.inflight : null, errorRate: l ? l.recentErrorRate : null, history: l ? l.history : []
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
  function clock(ms) { return new Date(ms).toLocaleTimeString(); }
  var HEALTH_TONE = { healthy: 'ok', unhealthy: 'bad', ejected: 'warn', draining: 'idle' };

  function renderRegistry(registry) {
    var json = JSON.stringify(registry);
    if (json === shown.registry) return;
    shown.registry = json;
    var box = document.getElementById('registry');
    if (!registry) { box.replaceChildren(chip('registry state unknown', 'idle')); return; }
    var parts = [chip(registry.connected ? 'registry connected' : 'registry disconnected', registry.connected ? 'ok' : 'bad')];
    if (registry.store) parts.push(chip('store ' + registry.store));
    if (!registry.synced) parts.push(chip('not synced', 'warn'));
    if (registry.revision !== null && registry.revision !== undefined) parts.push(chip('revision ' + registry.revision));
    box.replaceChildren.apply(box, parts);
  }

  function table(titles, numeric, rows) {
    var t = el('table');
    var headRow = el('tr');
    titles.forEach(function (title, n) { headRow.append(el('th', numeric.indexOf(n) >= 0 ? 'num' : '', title)); });
    var thead = el('thead');
    thead.append(headRow);
    var tbody = el('tbody');
    rows.forEach(function (r) { tbody.append(r); });
    t.append(thead, tbody);
    var box = el('div', 'scroll');
    box.append(t);
    return box;
  }

  /** Newest first: time, state, reason (and for an ejection when it ends). */
  function historyList(events) {
    var list = el('ul', 'meta history');
    events.slice().reverse().forEach(function (e) {
      var item = el('li');
      item.append(el('span', 'muted', clock(e.at) + ' '), chip(e.health, HEALTH_TONE[e.health] || 'idle'),
        document.createTextNode(' ' + e.reason + (e.until ? ' (until ' + clock(e.until) + ')' : '')));
      list.append(item);
    });
    return list;
  }

  function instanceRow(i) {
    var row = el('tr');
    row.dataset.instance = i.id;
    var meta = el('ul', 'meta mono');
    Object.keys(i.metadata).sort().forEach(function (key) { meta.append(el('li', '', key + '=' + i.metadata[key])); });
    var health = el('td');
    health.append(chip(i.health, HEALTH_TONE[i.health] || 'idle'));
    var metaCell = el('td');
    metaCell.append(meta);
    var historyCell = el('td', 'history');
    historyCell.append(i.history.length ? historyList(i.history) : document.createTextNode('\\u2014'));
    row.append(
      el('td', 'mono', i.id), el('td', 'mono', address(i.host, i.port)), el('td', '', i.protocol), el('td', 'nowrap', i.zone || '\\u2014'),
      el('td', 'num', i.weight), el('td', '', i.status), health,
      el('td', 'num', dash(i.inflight)), el('td', 'num', percent(i.errorRate)),
      el('td', '', i.tags.length ? i.tags.join(', ') : '\\u2014'), metaCell, historyCell
    );
    return row;
  }

  function serviceHead(s) {
    var head = el('div', 'head');
    var healthy = s.instances.filter(function (i) { return i.health === 'healthy'; }).length;
    head.append(el('h2', '', s.name),
      chip(healthy + '/' + s.instances.length + ' healthy', healthy === s.instances.length ? 'ok' : healthy === 0 ? 'bad' : 'warn'),
      chip('revision ' + s.revision));
    if (s.panic) head.append(chip('panic mode', 'bad'));
    if (s.selfPreservation) head.append(chip('self-preservation', 'warn'));
    if (s.ejections !== null) head.append(chip('ejections ' + s.ejections, s.ejections > 0 ? 'warn' : ''));
    if (s.perSecond !== null) head.append(chip(s.perSecond + ' req/s'));
    if (s.errorRate !== null) head.append(chip('errors ' + percent(s.errorRate), s.errorRate > 0 ? 'bad' : ''));
    return head;
  }

  function chartsOrNote(series, timing, none) {
    return series && timing ? trafficCharts(series, timing) : el('p', 'note muted', none);
  }

  var INSTANCE_TITLES = ['Instance', 'Address', 'Protocol', 'Zone', 'Weight', 'Status', 'Health', 'In flight', 'Error rate', 'Tags', 'Metadata', 'Health history'];

  /** The section of one service, reusing the parts of old whose data did not change. */
  function serviceSection(s, timing, old) {
    var parts = {
      head: JSON.stringify([s.name, s.revision, s.panic, s.selfPreservation, s.ejections, s.perSecond, s.errorRate, s.instances.map(function (i) { return i.health; })]),
      // Redrawn when the counts change or the buckets move on, not at every poll of an idle service.
      charts: JSON.stringify([s.traffic, timing && s.traffic ? timing.start : null]),
      table: JSON.stringify(s.instances)
    };
    var entry = old || { section: el('section', 'card service'), head: null, charts: null, table: null, json: {} };
    entry.section.dataset.service = s.name;
    var changed = false;
    if (entry.json.head !== parts.head) { entry.head = serviceHead(s); changed = true; }
    if (entry.json.charts !== parts.charts) {
      entry.charts = chartsOrNote(s.traffic, timing, statsAvailable ? 'No requests yet.' : 'No traffic data (this server has no /v1/stats).');
      changed = true;
    }
    if (entry.json.table !== parts.table) { entry.table = table(INSTANCE_TITLES, [4, 7, 8], s.instances.map(instanceRow)); changed = true; }
    entry.json = parts;
    // Untouched DOM costs no layout: an idle poll changes nothing on the page.
    if (changed) entry.section.replaceChildren(entry.head, entry.charts, entry.table);
    return entry;
  }

  function renderOverview(m) {
    var box = document.getElementById('overview');
    var json = JSON.stringify([m.total, m.timing ? m.timing.start : null]);
    if (json === shown.overview) return;
    shown.overview = json;
    if (!m.total) { box.hidden = true; return; }
    var head = el('div', 'head');
    head.append(el('h2', '', 'Whole proxy'), el('span', 'muted', 'last 15 minutes, ' + m.timing.bucketSeconds + ' s buckets'));
    box.replaceChildren(head, trafficCharts(m.total, m.timing));
    box.hidden = false;
  }

  function routeRow(r) {
    var row = el('tr');
    row.dataset.route = r.id;
    var headers = Object.keys(r.headers).map(function (k) { return k + ': ' + r.headers[k]; }).join(', ');
    row.append(el('td', '', r.declaredBy ? 'declared by ' + r.declaredBy : r.source), el('td', 'mono', r.host === null ? '*' : r.host), el('td', 'mono', r.path), el('td', 'mono', headers || '\\u2014'),
      el('td', '', r.service === null ? '{service}' : r.service), el('td', '', r.stripPrefix ? 'yes' : 'no'));
    return row;
  }

  function renderRoutes(routes) {
    var box = document.getElementById('routes');
    var json = JSON.stringify(routes);
    if (json === shown.routes) return;
    shown.routes = json;
    if (!routes) { box.hidden = true; return; }
    var head = el('div', 'head');
    head.append(el('h2', '', 'Routes'), el('span', 'muted', plural(routes.length, 'route')));
    box.replaceChildren(head, routes.length === 0 ? el('p', 'note muted', 'No routes.')
      : table(['Source', 'Host', 'Path', 'Headers', 'Service', 'Strip prefix'], [], routes.map(routeRow)));
    box.hidden = false;
  }

  function render(m) {
    renderRegistry(m.registry);
    renderOverview(m);
    renderRoutes(m.routes);
    var total = 0, healthy = 0;
    m.services.forEach(function (s) {
      total += s.instances.length;
      healthy += s.instances.filter(function (i) { return i.health === 'healthy'; }).length;
    });
    document.getElementById('totals').textContent =
      plural(m.services.length, 'service') + ' \\u00b7 ' + plural(total, 'instance') + ' \\u00b7 ' + healthy + ' healthy';
    var list = document.getElementById('services');
    if (m.services.length === 0) { shown.services = {}; list.replaceChildren(el('p', 'empty muted', 'No services registered.')); return; }
    var next = {};
    m.services.forEach(function (s) { next[s.name] = serviceSection(s, m.timing, shown.services[s.name]); });
    shown.services = next;
    var sections = m.services.map(function (s) { return next[s.name].section; });
    var same = list.children.length === sections.length && sections.every(function (section, i) { return list.children[i] === section; });
    if (!same) list.replaceChildren.apply(list, sections);
  }

  function tick() {
    load().then(function (data) {
      render(model(data));
      document.getElementById('error').className = '';
      document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
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
