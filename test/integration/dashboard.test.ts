/**
 * The dashboard page in a real headless Chromium (Debian package `chromium`,
 * driven by playwright-core) against a real admin server, memory store and
 * mirror in this process. No browser = a loud failure naming the install line.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { dashboardRoute } from '../../src/admin/dashboard.js';
import type { AdminRoute } from '../../src/admin/server.js';
import { poolStatsSource, statsRoute } from '../../src/admin/stats-api.js';
import { EndpointPool } from '../../src/health/state.js';
import { startAdmin, type AdminHarness } from './admin-harness.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--headless',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
/** The page polls every 1.5 s; a change must show well within this. */
const SHOWS_WITHIN_MS = 6_000;
const RESULTS_DIR = path.resolve('test-results');

let userDataDir: string;
let context: BrowserContext;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing at ${CHROMIUM}; install it with: apt-get install -y chromium (the dashboard test needs a real browser)`);
  }
  userDataDir = await mkdtemp(path.join(tmpdir(), 'waypost-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: { width: 1280, height: 720 },
  });
  await mkdir(RESULTS_DIR, { recursive: true });
});

afterAll(async () => {
  await context?.close();
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
});

interface Opened {
  readonly page: Page;
  readonly dialogs: string[];
  readonly problems: string[];
  /** Main-frame navigations after the first load (a reload would count). */
  readonly navigations: () => number;
}

async function open(base: string): Promise<Opened> {
  const page = await context.newPage();
  const dialogs: string[] = [];
  const problems: string[] = [];
  let loads = 0;
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) loads += 1;
  });
  await page.goto(`${base}/`);
  await page.locator('body[data-state="live"]').waitFor({ timeout: SHOWS_WITHIN_MS });
  return { page, dialogs, problems, navigations: () => loads - 1 };
}

const row = (page: Page, service: string, id: string) => page.locator(`section[data-service="${service}"] tr[data-instance="${id}"]`);

async function cellTexts(page: Page, service: string, id: string): Promise<string[]> {
  return row(page, service, id).locator('td').allTextContents();
}

describe('dashboard with /v1/stats', () => {
  let admin: AdminHarness;
  let pool: EndpointPool;
  const pages: Page[] = [];

  beforeAll(async () => {
    pool = new EndpointPool();
    // statsRoute needs the harness's mirror and metrics, which exist only once it starts.
    let stats: AdminRoute | undefined;
    const lateStats: AdminRoute = { method: 'GET', path: '/v1/stats', handle: (req, res) => stats!.handle(req, res) };
    admin = await startAdmin({}, { extraRoutes: [dashboardRoute(), lateStats] });
    stats = statsRoute({ mirror: admin.mirror, metrics: admin.metrics, storeKind: 'memory', source: poolStatsSource(pool) });
  });

  afterEach(async () => {
    for (const page of pages.splice(0)) await page.close();
  });

  afterAll(async () => {
    await admin?.close();
  });

  test('an instance registered through the API appears without a reload and goes when deregistered', async () => {
    const opened = await open(admin.base);
    const { page } = opened;
    pages.push(page);
    await expect(page.locator('main p.empty').textContent()).resolves.toBe('No services registered.');
    await expect(page.locator('#registry').textContent()).resolves.toMatch(/registry connected.*store memory.*revision 0/);

    const registered = await admin.call('POST', '/v1/services/orders/instances', {
      json: { id: 'orders-1', host: '127.0.0.1', port: 8081, weight: 150, zone: 'eu-1a', tags: ['v2'], metadata: { version: '2.3.1' }, protocol: 'h2c' },
    });
    expect(registered.status).toBe(201);
    pool.stats('orders', 'orders-1').inflight = 3;

    await row(page, 'orders', 'orders-1').waitFor({ timeout: SHOWS_WITHIN_MS });
    expect(await cellTexts(page, 'orders', 'orders-1')).toEqual([
      'orders-1',
      '127.0.0.1:8081',
      'h2c',
      'eu-1a',
      '150',
      'UP',
      'healthy',
      '3',
      '—',
      'v2',
      'version=2.3.1',
    ]);
    await expect(page.locator('section[data-service="orders"] .head').textContent()).resolves.toMatch(/1\/1 healthy.*ejections 0/);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'dashboard.png'), fullPage: true });

    const drained = await admin.call('PUT', '/v1/services/orders/instances/orders-1/status', { json: { status: 'DRAINING' } });
    expect(drained.status).toBe(200);
    await row(page, 'orders', 'orders-1').getByText('draining', { exact: true }).waitFor({ timeout: SHOWS_WITHIN_MS });

    const removed = await admin.call('DELETE', '/v1/services/orders/instances/orders-1');
    expect(removed.status).toBe(204);
    await row(page, 'orders', 'orders-1').waitFor({ state: 'detached', timeout: SHOWS_WITHIN_MS });
    await page.locator('main p.empty').waitFor({ timeout: SHOWS_WITHIN_MS });

    expect(opened.navigations()).toBe(0);
    expect(opened.problems).toEqual([]);
  });

  test('markup in registry metadata renders as text and never runs', async () => {
    const opened = await open(admin.base);
    const { page } = opened;
    pages.push(page);
    const metadata = { note: '<script>alert(1)</script>', img: '<img src=x onerror="alert(2)">' };
    const registered = await admin.call('POST', '/v1/services/evil/instances', { json: { id: 'evil-1', host: '127.0.0.1', port: 9000, metadata } });
    expect(registered.status).toBe(201);

    await row(page, 'evil', 'evil-1').waitFor({ timeout: SHOWS_WITHIN_MS });
    expect(await row(page, 'evil', 'evil-1').locator('ul.meta li').allTextContents()).toEqual([
      'img=<img src=x onerror="alert(2)">',
      'note=<script>alert(1)</script>',
    ]);
    expect(await page.locator('main script, main img').count()).toBe(0);
    // Let another poll re-render the row before judging that nothing ran.
    await page.waitForTimeout(2_000);
    expect(opened.dialogs).toEqual([]);
    expect(opened.problems).toEqual([]);

    expect((await admin.call('DELETE', '/v1/services/evil/instances/evil-1')).status).toBe(204);
  });
});

describe('dashboard with only the registry API', () => {
  let admin: AdminHarness;

  beforeAll(async () => {
    admin = await startAdmin({}, { extraRoutes: [dashboardRoute()] });
  });

  afterAll(async () => {
    await admin?.close();
  });

  test('shows instances and the connection state from /readyz, with dashes where live counters are missing', async () => {
    expect((await admin.call('GET', '/v1/stats')).status).toBe(404);
    const registered = await admin.call('POST', '/v1/services/users/instances', { json: { id: 'users-1', host: '::1', port: 7000 } });
    expect(registered.status).toBe(201);

    const opened = await open(admin.base);
    const { page } = opened;
    try {
      await row(page, 'users', 'users-1').waitFor({ timeout: SHOWS_WITHIN_MS });
      expect(await cellTexts(page, 'users', 'users-1')).toEqual(['users-1', '[::1]:7000', 'http1', '—', '100', 'UP', 'healthy', '—', '—', '—', '']);
      await expect(page.locator('#registry').textContent()).resolves.toBe('registry connected');
      // Only the first /v1/stats 404 is expected; the page stops asking after it.
      expect(opened.problems.filter((p) => !p.includes('404'))).toEqual([]);
    } finally {
      await page.close();
    }
  });
});

describe('dashboard routes section', () => {
  test('lists API and declared routes with their source, following changes without a reload', async () => {
    const admin = await startAdmin({}, { extraRoutes: [dashboardRoute()] });
    const opened = await open(admin.base);
    const { page } = opened;
    try {
      expect((await admin.call('PUT', '/v1/routes/orders-api', { json: { host: 'shop.test', path: '/orders', service: 'orders', stripPrefix: true } })).status).toBe(201);
      const declared = await admin.call('POST', '/v1/services/users/instances', {
        json: { id: 'users-1', host: '127.0.0.1', port: 7001, routes: [{ path: '/users', host: '<b>x</b>.test' }] },
      });
      expect(declared.status).toBe(400);
      await admin.call('POST', '/v1/services/users/instances', { json: { id: 'users-1', host: '127.0.0.1', port: 7001, routes: [{ path: '/users' }] } });
      const routeRow = (id: string) => page.locator(`#routes tr[data-route="${id}"]`);
      await routeRow('service:users:/users').waitFor({ timeout: SHOWS_WITHIN_MS });
      expect(await routeRow('orders-api').locator('td').allTextContents()).toEqual(['orders-api', 'api', 'shop.test', '/orders', 'orders', 'yes']);
      expect(await routeRow('service:users:/users').locator('td').allTextContents()).toEqual(['service:users:/users', 'declared by users', '*', '/users', 'users', 'no']);
      await admin.call('DELETE', '/v1/routes/orders-api');
      await routeRow('orders-api').waitFor({ state: 'detached', timeout: SHOWS_WITHIN_MS });
      expect(opened.problems.filter((p) => !p.includes('404'))).toEqual([]);
    } finally {
      await page.close();
      await admin.close();
    }
  });
});
