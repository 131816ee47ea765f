/**
 * The dashboard's chart drawing, as page script (plain ES2017 in a string, concatenated
 * into the page's one nonce'd script by dashboard-page.ts; it uses the page's `el`).
 *
 * A chart is inline SVG built with createElementNS (no markup strings, so Trusted Types
 * and the CSP hold). Each line's `path` carries the numbers it plots in `data-values`
 * (empty = no data), and a rate chart its raw request counts in `data-counts`, so a test
 * can check what was drawn against what it sent.
 */
export const CHARTS_SCRIPT = `
  // The page's own empty svg gives the SVG namespace: the page holds no URL, not even that one.
  var SVG_NS = document.getElementById('svg-ns').namespaceURI;
  var CHART_W = 300, CHART_H = 64;

  function svgEl(tag, attrs) {
    var node = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs).forEach(function (name) { node.setAttribute(name, String(attrs[name])); });
    return node;
  }

  function round(value, digits) { var f = Math.pow(10, digits); return Math.round(value * f) / f; }
  function fmtRate(v) { return (v >= 100 ? Math.round(v) : round(v, 1)) + '/s'; }
  function fmtMs(v) { return v >= 1000 ? round(v / 1000, 2) + ' s' : (v >= 10 ? Math.round(v) : round(v, 2)) + ' ms'; }
  function fmtPercent(v) { return round(v * 100, 1) + ' %'; }
  function lastValue(values) {
    for (var i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
    return null;
  }

  /** The path of one line; a gap (null) lifts the pen, and a lone point gets a dot so it shows. */
  function linePath(values, max) {
    var step = CHART_W / Math.max(1, values.length - 1);
    var d = '';
    var pen = false;
    values.forEach(function (v, i) {
      if (v === null) { pen = false; return; }
      var x = round(i * step, 1);
      var y = round(CHART_H - 2 - (v / max) * (CHART_H - 4), 1);
      d += (pen ? 'L' : 'M') + x + ' ' + y;
      if (!pen && (i + 1 === values.length || values[i + 1] === null)) d += 'h0.5';
      pen = true;
    });
    return d;
  }

  /** One small chart: lines = [{ name, values, tone }], scaled to the largest value (at least floor). */
  function chart(key, title, lines, format, floor) {
    var figure = el('figure', 'chart');
    figure.dataset.chart = key;
    var max = floor;
    lines.forEach(function (line) { line.values.forEach(function (v) { if (v !== null && v > max) max = v; }); });
    var caption = el('figcaption');
    caption.append(el('span', 'title', title));
    lines.forEach(function (line) {
      var latest = lastValue(line.values);
      caption.append(el('span', line.tone, line.name + ' ' + (latest === null ? '\\u2014' : format(latest))));
    });
    var svg = svgEl('svg', { viewBox: '0 0 ' + CHART_W + ' ' + CHART_H, preserveAspectRatio: 'none', role: 'img', 'aria-label': title });
    svg.append(svgEl('line', { x1: 0, y1: 2, x2: CHART_W, y2: 2, 'class': 'grid', 'vector-effect': 'non-scaling-stroke' }));
    lines.forEach(function (line) {
      var path = svgEl('path', { d: linePath(line.values, max), 'class': 'line ' + line.tone, 'vector-effect': 'non-scaling-stroke' });
      path.dataset.series = line.name;
      path.dataset.values = line.values.map(function (v) { return v === null ? '' : String(v); }).join(',');
      svg.append(path);
    });
    var scale = el('div', 'scale muted');
    scale.append(el('span', '', '\\u221215 min'), el('span', '', 'max ' + format(max)), el('span', '', 'now'));
    figure.append(caption, svg, scale);
    return figure;
  }

  /** How long the last (current) bucket has been filling, 1 s at least. */
  function filledSeconds(timing, n) {
    var started = timing.start + (n - 1) * timing.bucketSeconds * 1000;
    return Math.min(timing.bucketSeconds, Math.max(1, (timing.at - started) / 1000));
  }

  /**
   * Request rate, p50/p99 latency and error ratio of one series (stats.traffic layout). The
   * last bucket is still filling: its rate is over the seconds it has run so far.
   */
  function trafficCharts(series, timing) {
    var n = series.requests.length;
    var rate = series.requests.map(function (count, i) {
      return round(count / (i === n - 1 ? filledSeconds(timing, n) : timing.bucketSeconds), 3);
    });
    var errorRatio = series.requests.map(function (count, i) { return count > 0 ? round(series.errors[i] / count, 4) : null; });
    var rateChart = chart('rate', 'Requests', [{ name: 'rate', values: rate, tone: 's-rate' }], fmtRate, 1);
    rateChart.dataset.counts = series.requests.join(',');
    var grid = el('div', 'charts');
    grid.append(
      rateChart,
      chart('latency', 'Latency', [{ name: 'p50', values: series.p50, tone: 's-p50' }, { name: 'p99', values: series.p99, tone: 's-p99' }], fmtMs, 1),
      chart('errors', 'Errors (5xx, upstream)', [{ name: 'ratio', values: errorRatio, tone: 's-err' }], fmtPercent, 0.01)
    );
    return grid;
  }

  /** Requests per second and error share over the last minute (the last 6 buckets). */
  function lastMinute(series, timing) {
    var n = series.requests.length;
    var requests = 0, errors = 0;
    for (var i = Math.max(0, n - 6); i < n; i++) { requests += series.requests[i]; errors += series.errors[i]; }
    var seconds = 5 * timing.bucketSeconds + filledSeconds(timing, n);
    return { perSecond: round(requests / seconds, 1), errorRate: requests > 0 ? errors / requests : null };
  }
`;
