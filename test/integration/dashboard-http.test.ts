/**
 * The dashboard's HTTP answer (headers, nonce, self-containment) and the
 * `/v1/stats` JSON it reads, against a real admin server.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { dashboardRoute } from '../../src/admin/dashboard.js';
import type { AdminRoute } from '../../src/admin/server.js';
import { poolStatsSource, statsRoute } from '../../src/admin/stats-api.js';
import { EndpointPool } from '../../src/health/state.js';
import { startAdmin, type AdminHarness } from './admin-harness.js';

let admin: AdminHarness;
const pool = new EndpointPool();

beforeAll(async () => {
  let stats: AdminRoute | undefined;
  const lateStats: AdminRoute = { method: 'GET', path: '/v1/stats', handle: (req, res) => stats!.handle(req, res) };
  admin = await startAdmin({}, { extraRoutes: [dashboardRoute(), lateStats] });
  stats = statsRoute({ mirror: admin.mirror, metrics: admin.metrics, storeKind: 'memory', source: poolStatsSource(pool) });
});

afterAll(async () => {
  await admin?.close();
});

describe('GET /', () => {
  test('answers HTML with a strict CSP whose fresh nonce is the one on the inline script and style', async () => {
    const first = await admin.call('GET', '/');
    const second = await admin.call('GET', '/');
    expect(first.status).toBe(200);
    expect(first.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(first.headers['x-content-type-options']).toBe('nosniff');
    expect(first.headers['cache-control']).toBe('no-store');

    const csp = String(first.headers['content-security-policy']);
    const nonce = /script-src 'nonce-([A-Za-z0-9+/=]+)'/.exec(csp)?.[1];
    expect(nonce).toBeDefined();
    expect(csp).toBe(
      `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src data:; ` +
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'",
    );
    expect(first.text).toContain(`<script nonce="${nonce}">`);
    expect(first.text).toContain(`<style nonce="${nonce}">`);
    expect(first.text).not.toContain('__WAYPOST_NONCE__');
    expect(String(second.headers['content-security-policy'])).not.toContain(nonce);
  });

  test('loads nothing from anywhere else', async () => {
    const { text } = await admin.call('GET', '/');
    expect(text).not.toMatch(/https?:\/\//);
    expect(text).not.toMatch(/<(script|link)[^>]+(src|href)="(?!data:)/);
    expect(text).not.toContain('innerHTML');
  });

  test('refuses other methods with 405 and an Allow header', async () => {
    const reply = await admin.call('POST', '/', { json: {} });
    expect(reply.status).toBe(405);
    expect(reply.headers.allow).toBe('GET');
    expect(reply.body).toEqual({ error: 'method_not_allowed', message: 'this path accepts GET' });
  });
});

describe('GET /v1/stats', () => {
  test('reports the registry state and each instance’s in-flight count from the injected source', async () => {
    const registered = await admin.call('POST', '/v1/services/orders/instances', { json: { id: 'orders-1', host: '127.0.0.1', port: 8081 } });
    expect(registered.status).toBe(201);
    expect((await admin.call('POST', '/v1/services/orders/instances', { json: { id: 'orders-2', host: '127.0.0.1', port: 8082 } })).status).toBe(201);
    pool.stats('orders', 'orders-1').inflight = 2;
    admin.metrics.requests.inc({ service: 'orders', code: '200' }, 8);
    admin.metrics.requests.inc({ service: 'orders', code: '503' }, 2);
    admin.metrics.ejections.inc({ service: 'orders' });
    admin.metrics.panicMode.set({ service: 'orders' }, 1);

    const reply = await admin.call('GET', '/v1/stats');
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({
      registry: { store: 'memory', connected: true, synced: true, revision: 2 },
      services: [
        {
          name: 'orders',
          revision: 2,
          panic: true,
          selfPreservation: false,
          ejections: 1,
          requests: 10,
          errors: 2,
          traffic: null,
          instances: [
            { id: 'orders-1', inflight: 2, recentErrorRate: null, history: [] },
            { id: 'orders-2', inflight: null, recentErrorRate: null, history: [] },
          ],
        },
      ],
      traffic: { at: expect.any(Number), start: expect.any(Number), bucketSeconds: 10, total: expect.objectContaining({ requests: Array(90).fill(0) }) },
      routes: [],
    });
  });
});
