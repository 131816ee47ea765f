/**
 * The shipped Grafana dashboard and alert rules work against a real Prometheus (Debian's
 * `prometheus`) scraping a real Waypost that carried real traffic: 200s, 500s that get an
 * instance ejected, connection-refused upstream errors (502), 503s of a service with no
 * healthy instance, a service held by self-preservation, and a second target that is down.
 *
 * How "no expression silently returns nothing" is checked, per expression:
 *   1. it runs (Prometheus accepts it);
 *   2. every vector selector in it (`name{matchers}`) selects at least one series, which
 *      catches a renamed metric, label or label value in a matcher;
 *   3. every label in its `by`/`on`/`without`/`ignoring`/`group_*` lists is on one of those
 *      series, which catches a renamed label that would silently merge or drop series;
 *   4. its value parts return data: a dashboard query as it stands (with a finite value, and
 *      every label its legend names on every series),
 *      an alert without its threshold comparisons (test/helpers/promql.ts valueParts), so an
 *      alert whose condition is false is still shown to compute something (with every label
 *      its annotations print).
 * Then the alerts this traffic should raise are pending or firing in Prometheus itself.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type TestApp } from '../helpers/app.js';
import { deadPort } from '../helpers/ports.js';
import { PrometheusServer, type Sample } from '../helpers/prometheus.js';
import { groupingLabels, valueParts, vectorSelectors } from '../helpers/promql.js';
import { waitFor } from '../helpers/wait.js';
import { closeAgent, hitMany, switchBackend, type SwitchBackend } from './health-harness.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const RULES = path.join(ROOT, 'config/prometheus/alerts.yml');
const DASHBOARD = path.join(ROOT, 'config/grafana/dashboards/waypost.json');
/** Dashboard variables as Grafana fills them for "All" over a short test (scrapes every second). */
const VARIABLES: Record<string, string> = { service: '.*', __rate_interval: '1m', __interval: '1s', __range: '1m' };
/** Data arrives with the next scrape and rule evaluation (each every second); generous for a loaded machine. */
const SETTLE = { timeoutMs: 25_000, intervalMs: 250 };
const LONG_LEASE = 3600;

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  annotations?: Record<string, string>;
}
const rules = (parse(readFileSync(RULES, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const dashboardTargets = collectTargets(JSON.parse(readFileSync(DASHBOARD, 'utf8')));

let proxy: TestApp;
let prometheus: PrometheusServer;
let downTarget: string;
const backends: SwitchBackend[] = [];

beforeAll(async () => {
  const [good, bad] = [await switchBackend('good'), await switchBackend('bad')];
  backends.push(good, bad);
  bad.mode = 'fail';
  proxy = await startApp({
    // Held even if one sweep catches only the first of inventory's short leases (below).
    registry: { selfPreservation: 0.3 },
    // 100 %: both payments instances (refusing connections) are ejected, which puts payments in panic mode.
    health: { passive: { consecutiveFailures: 3, baseEjection: '60s', maxEjectionPercent: 100 } },
  });
  downTarget = `127.0.0.1:${await deadPort()}`;
  prometheus = await PrometheusServer.start({ targets: [new URL(proxy.adminUrl).host, downTarget], ruleFiles: [RULES] });
  // Registry changes and traffic only after the first scrape, so rates and increases see them.
  await waitFor('the first scrape of the proxy', async () => (await prometheus.vector('up{job="waypost"} == 1')).length === 1, SETTLE);

  const at = (backend: SwitchBackend) => ({ host: '127.0.0.1', port: backend.port, ttl: LONG_LEASE });
  for (const id of ['orders-1', 'orders-2']) await proxy.register({ service: 'orders', id, ...at(good) });
  await proxy.register({ service: 'orders', id: 'orders-bad', ...at(bad) });
  // Two instances refusing connections: each request is retried on the other, then answered 502.
  for (const id of ['payments-1', 'payments-2']) await proxy.register({ service: 'payments', id, host: '127.0.0.1', port: await deadPort(), ttl: LONG_LEASE });
  await proxy.register({ service: 'billing', id: 'billing-1', ...at(good), status: 'DRAINING' });
  // Three short leases that are never renewed: expiring at once is what self-preservation holds.
  await Promise.all(['inventory-1', 'inventory-2', 'inventory-3'].map((id) => proxy.register({ service: 'inventory', id, ...at(good), ttl: 1 })));

  // Prometheus sees a counter's increase only between two of its scrapes: a first request of each
  // kind creates the series, and the rest comes after a scrape that has them.
  const first = await traffic({ orders: 3, payments: 1, billing: 1, unknown: 1 });
  for (const [service, code] of [['orders', '500'], ['payments', '502'], ['billing', '503'], ['_unrouted', '404']]) {
    await waitFor(`${service} ${code} scraped`, async () => (await prometheus.vector(`waypost_requests_total{service="${service}",code="${code}"}`)).length > 0, SETTLE);
  }
  const rest = await traffic({ orders: 57, payments: 9, billing: 4, unknown: 2 });
  // What the checks below rely on: 500s until the bad instance is ejected, 502s, 503s, 404s.
  expect({ first, rest }).toEqual({
    first: { orders: { 200: 2, 500: 1 }, payments: { 502: 1 }, billing: { 503: 1 }, unknown: { 404: 1 } },
    rest: { orders: { 200: 55, 500: 2 }, payments: { 502: 9 }, billing: { 503: 4 }, unknown: { 404: 2 } },
  });
}, 60_000);

async function traffic(counts: Record<'orders' | 'payments' | 'billing' | 'unknown', number>): Promise<Record<string, Record<number, number>>> {
  const host = (name: string) => (name === 'unknown' ? 'nobody.example' : `${name}.localhost`);
  const codes: Record<string, Record<number, number>> = {};
  for (const [name, n] of Object.entries(counts)) codes[name] = await hitMany(proxy.port, host(name), n);
  return codes;
}

afterAll(async () => {
  await prometheus?.stop();
  await proxy?.stop();
  for (const backend of backends) await backend.close();
  closeAgent();
});

describe('a real Prometheus scraping a real Waypost', () => {
  it('loads the shipped rule file and evaluates every rule without error', async () => {
    type Loaded = { name: string; health: string; lastError?: string; lastEvaluation: string };
    const loaded = await waitFor(
      'every rule evaluated',
      async () => {
        const data = await prometheus.api<{ groups: { rules: Loaded[] }[] }>('/api/v1/rules');
        const all = data.groups.flatMap((g) => g.rules);
        return all.length > 0 && all.every((r) => !r.lastEvaluation.startsWith('0001')) && all;
      },
      SETTLE,
    );
    expect(loaded.map((r) => r.name).sort()).toEqual(rules.map((r) => r.alert ?? r.record).sort());
    for (const rule of loaded) expect({ rule: rule.name, health: rule.health, error: rule.lastError ?? '' }).toEqual({ rule: rule.name, health: 'ok', error: '' });
  });

  it('answers every dashboard query with data its legend can name, and the service variable lists the services', async () => {
    expect(dashboardTargets.length).toBeGreaterThan(10);
    for (const target of dashboardTargets) {
      const expr = substitute(target.expr);
      await settled(`dashboard query ${expr}`, async () => {
        await expectLiveSeries(expr);
        const samples = await prometheus.vector(expr);
        expect(samples.some((s) => Number.isFinite(Number(s.value![1]))), `${expr} has a finite value`).toBe(true);
        // A legend naming a label the result lacks shows blanks: the label was renamed or aggregated away.
        for (const [, label] of (target.legendFormat ?? '').matchAll(/\{\{\s*(\w+)\s*\}\}/g)) {
          expect(samples.every((s) => s.metric[label!] !== undefined), `legend {{${label}}} of ${expr}`).toBe(true);
        }
      });
    }
    const services = await prometheus.api<string[]>(`/api/v1/label/service/values?${new URLSearchParams({ 'match[]': 'waypost_endpoints' })}`);
    expect(services).toEqual(expect.arrayContaining(['billing', 'inventory', 'orders', 'payments']));
  });

  it('reads existing series in every expression of the alert and recording rules', async () => {
    for (const rule of rules) {
      await settled(`rule ${rule.alert ?? rule.record}`, async () => {
        await expectLiveSeries(rule.expr);
        // Labels the annotations print must be on what the alert would carry.
        const printed = [...JSON.stringify(rule.annotations ?? {}).matchAll(/\$labels\.(\w+)/g)].map((m) => m[1]!);
        for (const part of valueParts(rule.expr)) {
          for (const sample of await prometheus.vector(part)) {
            for (const label of printed) expect(sample.metric, `$labels.${label} in ${rule.alert}'s annotations`).toHaveProperty(label);
          }
        }
      });
    }
  });

  it('raises the alerts this traffic calls for, and only those', async () => {
    const expected = [
      'WaypostErrorBudgetFastBurn billing',
      'WaypostErrorBudgetFastBurn orders',
      'WaypostErrorBudgetFastBurn payments',
      'WaypostErrorBudgetSlowBurn billing',
      'WaypostErrorBudgetSlowBurn orders',
      'WaypostErrorBudgetSlowBurn payments',
      `WaypostProxyNotReady ${downTarget}`,
      'WaypostSelfPreservationActive inventory',
      'WaypostServiceNoHealthyInstance billing',
      'WaypostServiceNoHealthyInstance payments',
    ];
    const active = await settled('the expected alerts', async () => {
      const data = await prometheus.api<{ alerts: { labels: Record<string, string>; state: string }[] }>('/api/v1/alerts');
      const names = data.alerts
        .filter((a) => a.state === 'pending' || a.state === 'firing')
        .map((a) => `${a.labels.alertname} ${a.labels.service ?? a.labels.instance}`)
        .sort();
      expect(names.join('\n')).toBe(expected.join('\n'));
      return names;
    });
    expect(active).toHaveLength(expected.length);
  });
});

/** Runs `check` until it passes (data comes with the next scrape); its last failure is the error. */
function settled<T>(what: string, check: () => Promise<T>): Promise<T> {
  return waitFor(what, async () => ({ value: await check() }), SETTLE).then((box) => box.value);
}

/** Steps 1-4 of the file comment (step 4 through value parts). */
async function expectLiveSeries(expr: string): Promise<void> {
  await prometheus.query(expr);
  const labels = new Set<string>();
  const selectors = vectorSelectors(expr);
  for (const selector of selectors) {
    const series = await prometheus.vector(selector);
    expect(series.length, `${selector} selects no series (in ${expr})`).toBeGreaterThan(0);
    for (const label of series.flatMap((s: Sample) => Object.keys(s.metric))) labels.add(label);
  }
  for (const label of groupingLabels(expr)) expect([...labels], `no series read by ${expr} has the label "${label}"`).toContain(label);
  for (const part of valueParts(expr)) {
    expect((await prometheus.vector(part)).length, `${part} returns nothing (value part of ${expr})`).toBeGreaterThan(0);
  }
}

/** `$name` and `${name}` replaced by VARIABLES; an unknown variable fails the test. */
function substitute(expr: string): string {
  return expr.replace(/\$\{?(\w+)\}?/g, (_, name: string) => {
    const value = VARIABLES[name];
    if (value === undefined) throw new Error(`no test value for the dashboard variable $${name} in ${expr}`);
    return value;
  });
}

/** Every panel target (its `expr` and legend) in a dashboard. */
function collectTargets(node: unknown, out: { expr: string; legendFormat?: string }[] = []): { expr: string; legendFormat?: string }[] {
  if (Array.isArray(node)) for (const item of node) collectTargets(item, out);
  else if (node !== null && typeof node === 'object') {
    const target = node as { expr?: unknown; legendFormat?: unknown };
    if (typeof target.expr === 'string') out.push({ expr: target.expr, legendFormat: typeof target.legendFormat === 'string' ? target.legendFormat : undefined });
    else for (const value of Object.values(node)) collectTargets(value, out);
  }
  return out;
}
