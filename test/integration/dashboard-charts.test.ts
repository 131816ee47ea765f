/**
 * The dashboard's charts in a real headless Chromium against a whole Waypost in this
 * process (real proxy, real backend): what the charts draw must be the traffic the test
 * sent, the page must update live, hold hostile registry data as text, show why an
 * instance was ejected, and fit a phone's width.
 */
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startBackend, type Backend } from '../helpers/backends.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { statusOf } from '../helpers/http.js';
import { deadPort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { SHOWS_WITHIN_MS, launchChromium, openDashboard, type Browser } from './chromium-harness.js';

let browser: Browser;
let backend: Backend;
let proxy: TestApp;
const pages: Page[] = [];
/** Every status the test got through the proxy for host orders.localhost. */
const statuses: number[] = [];

async function send(count: number, headers: Record<string, string> = {}): Promise<void> {
  for (let i = 0; i < count; i++) statuses.push(await statusOf(proxy.port, 'orders.localhost', headers));
}

beforeAll(async () => {
  browser = await launchChromium();
  // Requests 4 and 9 reaching this backend answer 500.
  backend = await startBackend({ name: 'orders-a', failOn: [4, 9] });
  proxy = await startApp({
    domains: ['localhost'],
    routes: [{ path: '/api', service: 'orders', stripPrefix: true }],
    health: { passive: { consecutiveFailures: 2 } },
  } as never);
  await proxy.register({ service: 'orders', id: 'orders-a', host: '127.0.0.1', port: backend.port });
});

afterEach(async () => {
  for (const page of pages.splice(0)) await page.close();
});

afterAll(async () => {
  await proxy?.stop();
  await backend?.close();
  await browser?.close();
});

async function open(): Promise<Awaited<ReturnType<typeof openDashboard>>> {
  const opened = await openDashboard(browser.context, proxy.adminUrl);
  pages.push(opened.page);
  return opened;
}

interface DrawnLine {
  series: string;
  values: (number | null)[];
  /** The path's points, in SVG units (x right, y down; the chart is 300 × 64). */
  points: [number, number][];
}
interface DrawnChart {
  chart: string;
  counts: number[];
  lines: DrawnLine[];
}

/** What the charts under `scope` drew, read from the SVG itself. */
async function drawn(page: Page, scope: string): Promise<Map<string, DrawnChart>> {
  // Browser-side code as text: this project compiles without the DOM types.
  const raw = (await page.evaluate(`[...document.querySelectorAll(${JSON.stringify(`${scope} figure[data-chart]`)})].map((f) => ({
    chart: f.dataset.chart,
    counts: f.dataset.counts || '',
    lines: [...f.querySelectorAll('path')].map((p) => ({ series: p.dataset.series, values: p.dataset.values, d: p.getAttribute('d') })),
  }))`)) as { chart: string; counts: string; lines: { series: string; values: string; d: string }[] }[];
  return new Map(
    raw.map((c) => [
      c.chart,
      {
        chart: c.chart,
        counts: c.counts ? c.counts.split(',').map(Number) : [],
        lines: c.lines.map((l) => ({
          series: l.series,
          values: l.values.split(',').map((v) => (v === '' ? null : Number(v))),
          points: [...l.d.matchAll(/[ML](-?[\d.]+) (-?[\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])] as [number, number]),
        })),
      },
    ]),
  );
}

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
const routedToOrders = (): number => statuses.filter((s) => s !== 404).length;

/** Checks one scope's charts against the requests counted per bucket; returns those counts. */
function checkCharts(charts: Map<string, DrawnChart>, expectedRequests: number, expectedErrors: number, slowestMs: number): number[] {
  const rate = charts.get('rate')!;
  expect(rate.counts).toHaveLength(90);
  expect(sum(rate.counts)).toBe(expectedRequests);
  const [rateLine] = rate.lines;
  // Every full bucket plots its count per second; the line has a point per bucket, the largest at the top.
  rate.counts.slice(0, -1).forEach((count, i) => expect(rateLine!.values[i]).toBeCloseTo(count / 10, 3));
  expect(rateLine!.points).toHaveLength(90);
  const top = Math.max(...(rateLine!.values as number[]));
  expect(rateLine!.points[rateLine!.values.indexOf(top)]![1]).toBeCloseTo(2, 1);
  expect(rateLine!.points.every(([, y]) => y >= 2 && y <= 62)).toBe(true);

  const latency = charts.get('latency')!;
  expect(latency.lines.map((l) => l.series)).toEqual(['p50', 'p99']);
  for (const line of latency.lines) {
    // A latency is drawn exactly for the buckets that had requests.
    expect(line.values.map((v) => v !== null)).toEqual(rate.counts.map((c) => c > 0));
    expect(line.points.length).toBe(line.values.filter((v) => v !== null).length);
  }
  const p99 = Math.max(...(latency.lines[1]!.values.filter((v) => v !== null) as number[]));
  expect(p99).toBeGreaterThan(slowestMs * 0.84);

  const errors = charts.get('errors')!;
  const ratios = errors.lines[0]!.values;
  expect(Math.round(sum(rate.counts.map((count, i) => (ratios[i] ?? 0) * count)))).toBe(expectedErrors);
  return rate.counts;
}

describe('dashboard charts', () => {
  test('draw the requests, latency and errors the test sent, for the whole proxy and the service, and update live', async () => {
    await send(20);
    await send(2, { 'x-test': 'slow=150' });
    await statusOf(proxy.port, 'nowhere.localhost'); // 404: the whole proxy counts it, orders does not
    const failed = statuses.filter((s) => s === 500).length;
    expect(failed).toBe(2);
    const opened = await open();
    const { page } = opened;

    const orders = await waitFor('the orders charts', async () => {
      const charts = await drawn(page, 'section[data-service="orders"]');
      return sum(charts.get('rate')?.counts ?? []) === routedToOrders() ? charts : undefined;
    });
    checkCharts(orders, routedToOrders(), failed, 150);
    checkCharts(await drawn(page, '#overview'), routedToOrders() + 1, failed, 150);
    await expect(page.locator('section[data-service="orders"] .head').textContent()).resolves.toMatch(/req\/s.*errors \d+\.\d %/);

    // Live: more traffic shows without a reload, and what did not change is not redrawn (the
    // route table's rows stay the same nodes, so a selection in them survives).
    const marked = `document.querySelector('#routes tr[data-route]')`;
    await page.evaluate(`${marked}.dataset.mark = 'kept'`);
    await send(15);
    await waitFor(
      'the new requests in the charts',
      async () => sum((await drawn(page, 'section[data-service="orders"]')).get('rate')?.counts ?? []) === routedToOrders(),
      { timeoutMs: SHOWS_WITHIN_MS },
    );
    expect(await page.evaluate(`${marked}.dataset.mark`)).toBe('kept');
    expect(opened.navigations()).toBe(0);
    expect(opened.problems).toEqual([]);
  });

  test('the route table lists the config routes and the host convention with their source', async () => {
    const { page } = await open();
    await page.locator('#routes tr[data-route]').first().waitFor({ timeout: SHOWS_WITHIN_MS });
    const rows = await page.evaluate(`[...document.querySelectorAll('#routes tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent))`);
    expect(rows).toEqual([
      ['config', '*', '/api', '—', 'orders', 'yes'],
      ['convention', '{service}.localhost', '/', '—', '{service}', 'no'],
    ]);
  });

  test('API and declared routes show with their source between the config routes and the convention, and follow changes', async () => {
    const { page } = await open();
    const put = await fetch(`${proxy.adminUrl}/v1/routes/orders-api`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ host: 'shop.test', path: '/orders', service: 'orders', stripPrefix: true }),
    });
    expect(put.status).toBe(201);
    await proxy.register({ service: 'users', id: 'users-1', host: '127.0.0.1', port: backend.port, routes: [{ path: '/users', stripPrefix: false }] });
    const declared = page.locator('#routes tr[data-route="service:users:/users"]');
    await declared.waitFor({ timeout: SHOWS_WITHIN_MS });
    const rows = await page.evaluate(`[...document.querySelectorAll('#routes tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent))`);
    expect(rows).toEqual([
      ['config', '*', '/api', '—', 'orders', 'yes'],
      ['api', 'shop.test', '/orders', '—', 'orders', 'yes'],
      ['declared by users', '*', '/users', '—', 'users', 'no'],
      ['convention', '{service}.localhost', '/', '—', '{service}', 'no'],
    ]);
    expect((await fetch(`${proxy.adminUrl}/v1/routes/orders-api`, { method: 'DELETE' })).status).toBeLessThan(300);
    await page.locator('#routes tr[data-route="orders-api"]').waitFor({ state: 'detached', timeout: SHOWS_WITHIN_MS });
    await proxy.app.store.deregister('users', 'users-1');
    await declared.waitFor({ state: 'detached', timeout: SHOWS_WITHIN_MS });
  });

  test('an ejection shows in the instance’s health history with its reason', async () => {
    const dead = await deadPort();
    await proxy.register({ service: 'orders', id: 'orders-dead', host: '127.0.0.1', port: dead });
    const { page } = await open();
    const history = page.locator('section[data-service="orders"] tr[data-instance="orders-dead"] td.history li');
    // Each refused connect is retried on orders-a, so the client sees 200s while orders-dead fails twice.
    await waitFor('orders-dead ejected', async () => {
      await send(4);
      return (await history.count()) > 0;
    }, { timeoutMs: 15_000, intervalMs: 200 });
    await expect(history.first().textContent()).resolves.toMatch(/ejected 2 consecutive failures, last: connect_refused \(until .+\)/);
    await expect(page.locator('section[data-service="orders"] tr[data-instance="orders-dead"] td').nth(6).textContent()).resolves.toBe('ejected');
    await proxy.app.store.deregister('orders', 'orders-dead');
  });

  test('markup in metadata and tags renders as text and never runs', async () => {
    const hostile = '<img src=x onerror="alert(document.domain)">';
    const reply = await fetch(`${proxy.adminUrl}/v1/services/evil/instances`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'evil-1', host: '127.0.0.1', port: backend.port, tags: [hostile], metadata: { [hostile]: '<script>alert(1)</script>', note: hostile } }),
    });
    expect(reply.status).toBe(201);
    await statusOf(proxy.port, 'evil.localhost');
    const opened = await open();
    const { page } = opened;
    const row = page.locator('section[data-service="evil"] tr[data-instance="evil-1"]');
    await row.waitFor({ timeout: SHOWS_WITHIN_MS });
    await page.locator('section[data-service="evil"] figure[data-chart="rate"]').waitFor({ timeout: SHOWS_WITHIN_MS });
    expect(await row.locator('ul.meta li').allTextContents()).toEqual([`${hostile}=<script>alert(1)</script>`, `note=${hostile}`]);
    expect(await row.locator('td').nth(9).textContent()).toBe(hostile);
    expect(await page.locator('main script, main img, main [onerror]').count()).toBe(0);
    await page.waitForTimeout(2_000); // another poll re-renders the row
    expect(opened.dialogs).toEqual([]);
    expect(opened.problems).toEqual([]);
    expect((await fetch(`${proxy.adminUrl}/v1/services/evil/instances/evil-1`, { method: 'DELETE' })).status).toBe(204);
  });

  test('fits a phone: no horizontal overflow at 375×667, charts as wide as the screen', async () => {
    const { page } = await open();
    await page.setViewportSize({ width: 375, height: 667 });
    await page.locator('#overview figure[data-chart="rate"]').waitFor({ timeout: SHOWS_WITHIN_MS });
    const widths = (await page.evaluate(`({
      page: document.documentElement.scrollWidth,
      body: document.body.scrollWidth,
      chart: document.querySelector('#overview figure[data-chart="rate"] svg').getBoundingClientRect().width,
    })`)) as { page: number; body: number; chart: number };
    expect(widths.page).toBeLessThanOrEqual(375);
    expect(widths.body).toBeLessThanOrEqual(375);
    expect(widths.chart).toBeGreaterThan(250);
  });

  test('measures the page: weight in bytes and time to first full render (printed)', async () => {
    const page = await browser.context.newPage();
    pages.push(page);
    const started = Date.now();
    const response = await page.goto(`${proxy.adminUrl}/`);
    await page.locator('section[data-service="orders"] figure[data-chart="rate"]').waitFor({ timeout: SHOWS_WITHIN_MS });
    const renderMs = Date.now() - started;
    const bytes = (await response!.body()).length;
    const domReadyMs = (await page.evaluate(`performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd`)) as number;
    console.log(`dashboard page: ${bytes} bytes; navigation → first render with charts ${renderMs} ms (DOMContentLoaded ${Math.round(domReadyMs)} ms)`);
    expect(bytes).toBeLessThan(64 * 1024);
  });
});
