/**
 * The dashboard's routes section (issue 19): every route with its source (config file,
 * admin API, or declared by a service), from `GET /v1/routes`. Kept apart from the main
 * page script: its own element and script, following route changes with blocking queries
 * (`?wait=REV`) instead of polling. Strings reach the DOM through textContent only.
 */

export const ROUTES_SECTION = '<section id="routes" class="service" hidden></section>';

/** Plain ES2017, no backticks or placeholders (it sits inside a template literal). */
export const ROUTES_SCRIPT = `
'use strict';
(function () {
  var section = document.getElementById('routes');
  // The page's CSP allows no inline style attribute; the CSSOM from a nonce'd script is fine.
  section.parentElement.style.padding = '0 20px 16px';
  var revision = -1;
  function el(tag, text) { var e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); return e; }
  function source(r) { return r.source === 'declared' ? 'declared by ' + r.declaredBy : r.source; }
  function render(listing) {
    var head = document.createElement('div');
    head.className = 'head';
    head.append(el('h2', 'Routes'), el('span', listing.routes.length + ' \\u00b7 config first, then API, then declared on equal matches'));
    var table = el('table');
    var header = el('tr');
    ['Route', 'Source', 'Host', 'Path', 'Service', 'Strip prefix'].forEach(function (t) { header.append(el('th', t)); });
    var thead = el('thead');
    thead.append(header);
    var tbody = el('tbody');
    listing.routes.forEach(function (r) {
      var row = el('tr');
      row.dataset.route = r.id;
      row.append(el('td', r.id), el('td', source(r)), el('td', r.route.host || '*'), el('td', r.route.path || '/'),
        el('td', r.route.service || '\\u2014'), el('td', r.route.stripPrefix ? 'yes' : 'no'));
      tbody.append(row);
    });
    table.append(thead, tbody);
    section.replaceChildren(head, table);
    section.hidden = false;
  }
  function follow() {
    var query = revision < 0 ? '' : '?wait=' + revision + '&timeout=25s';
    fetch('/v1/routes' + query, { cache: 'no-store', headers: { accept: 'application/json' } }).then(function (res) {
      if (!res.ok) throw new Error('HTTP ' + res.status);
      return res.json();
    }).then(function (listing) {
      if (listing.revision !== revision || revision < 0) render(listing);
      revision = listing.revision;
      setTimeout(follow, 0);
    }).catch(function () { setTimeout(follow, 3000); });
  }
  follow();
})();
`;
