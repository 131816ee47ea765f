/**
 * Regenerates docs/dashboard.png, the README's dashboard screenshot: a whole Waypost in
 * this process with three services and real backends, ten minutes of traffic played in
 * seconds (the traffic series' clock is shifted back for the older buckets; the requests
 * and their latencies are real), one ejected instance, then headless Chromium at 1280 wide.
 *
 *   npm run docs:screenshot [-- out.png]   (then: pngquant --force --ext .png docs/dashboard.png)
 */
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { WaypostApp } from '../src/app.js';
import { configSchema } from '../src/config/schema.js';
import { silentLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { BUCKET_MS } from '../src/traffic/series.js';

const OUT = path.resolve(process.argv[2] ?? 'docs/dashboard.png');
const MINUTES = 10;

/** A backend answering after `?ms=` milliseconds with `?status=`. */
async function backend(): Promise<{ port: number; close(): void }> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    setTimeout(() => res.writeHead(Number(url.searchParams.get('status') ?? 200)).end('ok'), Number(url.searchParams.get('ms') ?? 0));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, close: () => server.close() };
}

function get(port: number, host: string, query: string): Promise<void> {
  return new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port, path: `/?${query}`, headers: { host } }, (res) => res.resume().on('end', resolve)).on('error', () => resolve());
  });
}

/** While the past is played: the simulated time; then the real one. */
let playedNow: number | undefined;
const metrics = new Metrics({ processMetrics: false, now: () => playedNow ?? Date.now() });
const config = configSchema.parse({
  listen: '127.0.0.1:0',
  admin: { listen: '127.0.0.1:0' },
  accessLog: 'off',
  domains: ['localhost'],
  routes: [{ host: 'shop.example.com', path: '/api/orders', service: 'orders', stripPrefix: true }, { path: '/users', service: 'users' }],
  health: { passive: { consecutiveFailures: 3 } },
});
const app = new WaypostApp(Object.freeze(config), { logger: silentLogger, metrics });
await app.start();
const backends = await Promise.all([backend(), backend(), backend(), backend()]);
const register = (service: string, id: string, port: number, extra: object = {}) =>
  app.store.register({ service, id, host: '127.0.0.1', port, ...extra });
await register('orders', 'orders-1', backends[0]!.port, { zone: 'eu-1a', tags: ['v2'], metadata: { version: '2.4.0' } });
await register('orders', 'orders-2', backends[1]!.port, { zone: 'eu-1b', tags: ['v2'], metadata: { version: '2.4.0' } });
await register('users', 'users-1', backends[2]!.port, { metadata: { version: '1.9.3' } });
await register('payments', 'payments-1', backends[3]!.port, { zone: 'eu-1a', weight: 200 });
await new Promise((r) => setTimeout(r, 200));
const port = app.addresses.http[0]!.port;

const buckets = (MINUTES * 60_000) / BUCKET_MS;
const startedAt = Date.now();
for (let b = 0; b < buckets; b++) {
  playedNow = startedAt - (buckets - 1 - b) * BUCKET_MS;
  const wave = Math.sin(b / 9);
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < 14 + Math.round(8 * wave); i++) jobs.push(get(port, 'orders.localhost', `ms=${2 + (i % 5) + (i === 0 ? 20 + 15 * wave : 0)}`));
  for (let i = 0; i < 6; i++) jobs.push(get(port, 'users.localhost', `ms=${8 + (i % 3) * 4}${b > 40 && b < 46 && i < 3 ? '&status=503' : ''}`));
  for (let i = 0; i < 3; i++) jobs.push(get(port, 'payments.localhost', `ms=${30 + i * 10}`));
  await Promise.all(jobs);
}
playedNow = undefined;
// One instance that stopped answering: refused connects eject it (retried on orders-1/2 meanwhile).
await register('orders', 'orders-3', 1, { zone: 'eu-1b', tags: ['v3-canary'] });
await new Promise((r) => setTimeout(r, 200));
for (let i = 0; i < 12; i++) await get(port, 'orders.localhost', 'ms=3');

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--headless', '--disable-gpu'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
await page.goto(`http://127.0.0.1:${app.addresses.admin.port}/`);
await page.locator('section[data-service="payments"] figure[data-chart="rate"]').waitFor();
await page.screenshot({ path: OUT, fullPage: true });
await browser.close();
await app.stop();
for (const b of backends) b.close();
console.log(`wrote ${OUT}`);
