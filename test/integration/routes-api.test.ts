/**
 * The routes admin API (issue 19) on a whole app: PUT/GET/DELETE /v1/routes, the token, 400s
 * naming the field, 404s, blocking list queries, and a PUT route serving traffic at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type Backend, type EchoReply } from '../helpers/backends.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { call } from './admin-harness.js';
import { json, request } from './proxy-harness.js';

const TOKEN = 'route-token';

describe('routes admin API', () => {
  let app: TestApp;
  let orders: Backend;
  let billing: Backend;
  const admin = (method: string, path: string, options: Parameters<typeof call>[3] = {}) =>
    call(app.app.addresses.admin.port, method, path, { token: TOKEN, ...options });

  beforeAll(async () => {
    orders = await startBackend({ name: 'orders' });
    billing = await startBackend({ name: 'billing' });
    app = await startApp({
      admin: { token: TOKEN },
      domains: [],
      routes: [{ host: 'shop.test', path: '/pay', service: 'billing' }],
    });
    await app.register({ service: 'orders', id: 'o-1', host: '127.0.0.1', port: orders.port });
    await app.register({ service: 'billing', id: 'b-1', host: '127.0.0.1', port: billing.port });
  });
  afterAll(async () => {
    await app?.stop();
    await orders?.close();
    await billing?.close();
  });

  it('serves a route PUT through the API as soon as the PUT answers, and stops when it is deleted', async () => {
    expect((await request(app.port, { host: 'shop.test', path: '/orders/1' })).status).toBe(404);
    const put = await admin('PUT', '/v1/routes/shop-orders', { json: { host: 'shop.test', path: '/orders', service: 'orders', stripPrefix: true } });
    expect(put.status).toBe(201);
    expect(put.body).toMatchObject({ id: 'shop-orders', route: { host: 'shop.test', path: '/orders', service: 'orders', stripPrefix: true } });
    const routed = await request(app.port, { host: 'shop.test', path: '/orders/1?x=2' });
    expect(routed.status).toBe(200);
    expect(json<EchoReply>(routed)).toMatchObject({ backend: 'orders', url: '/1?x=2' });

    const again = await admin('PUT', '/v1/routes/shop-orders', { json: { host: 'shop.test', path: '/orders', service: 'orders' } });
    expect(again.status).toBe(200);
    expect(json<EchoReply>(await request(app.port, { host: 'shop.test', path: '/orders/1' })).url).toBe('/orders/1');

    expect((await admin('DELETE', '/v1/routes/shop-orders')).status).toBe(204);
    expect((await request(app.port, { host: 'shop.test', path: '/orders/1' })).status).toBe(404);
    expect((await admin('DELETE', '/v1/routes/shop-orders')).status).toBe(404);
  });

  it('lists every route with its source, config routes first, and gets one by id', async () => {
    await admin('PUT', '/v1/routes/b', { json: { path: '/b', service: 'orders' } });
    await admin('PUT', '/v1/routes/a', { json: { path: '/a', service: 'orders', timeouts: { header: '5s' } } });
    const list = await admin('GET', '/v1/routes', { token: undefined });
    expect(list.status).toBe(200);
    expect(list.body.routes.map((r: { id: string; source: string }) => `${r.id} ${r.source}`)).toEqual(['route[0] config', 'a api', 'b api']);
    expect(Number(list.headers['x-waypost-revision'])).toBe(list.body.revision);
    const one = await admin('GET', '/v1/routes/a');
    expect(one.body).toEqual({ id: 'a', source: 'api', route: { path: '/a', service: 'orders', timeouts: { header: '5s' } } });
    expect((await admin('GET', '/v1/routes/route%5B0%5D')).body).toMatchObject({ id: 'route[0]', source: 'config', route: { service: 'billing' } });
    const missing = await admin('GET', '/v1/routes/nope');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error: 'not_found', message: 'route "nope" does not exist', field: 'id' });
    await admin('DELETE', '/v1/routes/a');
    await admin('DELETE', '/v1/routes/b');
  });

  it('refuses writes without the right token and stores nothing', async () => {
    const body = { json: { path: '/t', service: 'orders' } };
    expect((await admin('PUT', '/v1/routes/t', { ...body, token: undefined })).status).toBe(401);
    expect((await admin('PUT', '/v1/routes/t', { ...body, token: 'wrong' })).status).toBe(401);
    expect((await admin('DELETE', '/v1/routes/t', { token: undefined })).status).toBe(401);
    expect(await app.app.store.listRoutes()).toEqual([]);
  });

  it.each([
    ['a bad id', 'Bad_ID', { service: 'orders' }, 'id', /^id must be 1-64 of a-z 0-9/],
    ['a missing service', 'x', { path: '/x' }, 'service', /^service: expected/],
    ['a path without a leading slash', 'x', { service: 'orders', path: 'x' }, 'path', /^path: /],
    ['an unknown field', 'x', { service: 'orders', colour: 'red' }, 'colour', /unknown field\(s\) "colour"/],
    ['a bad duration', 'x', { service: 'orders', timeouts: { header: 'soon' } }, 'timeouts.header', /^timeouts\.header: expected a duration/],
    ['an unknown balancer', 'x', { service: 'orders', balancer: 'fastest' }, 'balancer', /^balancer: expected one of/],
    ['a body that is not an object', 'x', [1], '', /must be a JSON object/],
  ])('answers 400 naming the field for %s', async (_, id, body, field, message) => {
    const reply = await admin('PUT', `/v1/routes/${id}`, { json: body });
    expect(reply.status).toBe(400);
    expect(reply.body.error).toBe('invalid');
    expect(reply.body.field).toBe(field);
    expect(reply.body.message).toMatch(message);
    expect(await app.app.store.listRoutes()).toEqual([]);
  });

  it('answers a blocking list query when a route changes, and at the timeout otherwise', async () => {
    const { body } = await admin('GET', '/v1/routes');
    const idle = await admin('GET', `/v1/routes?wait=${body.revision}&timeout=100ms`);
    expect(idle.body.revision).toBe(body.revision);
    const waiting = admin('GET', `/v1/routes?wait=${body.revision}&timeout=20s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await admin('PUT', '/v1/routes/w', { json: { path: '/w', service: 'orders' } });
    const changed = await waiting;
    expect(changed.body.revision).toBeGreaterThan(body.revision);
    expect(changed.body.routes.map((r: { id: string }) => r.id)).toContain('w');
    expect((await admin('GET', '/v1/routes?wait=abc')).body).toMatchObject({ error: 'invalid', field: 'wait' });
    await admin('DELETE', '/v1/routes/w');
  });

  it('takes the route policy keys of a config route: applied at once, limits kept across table rebuilds', async () => {
    const denied = await admin('PUT', '/v1/routes/closed', { json: { path: '/closed', service: 'orders', clientCidrs: { deny: ['127.0.0.0/8'] } } });
    expect(denied.status).toBe(201);
    expect((await request(app.port, { host: 'any.test', path: '/closed' })).status).toBe(403);

    await admin('PUT', '/v1/routes/limited', { json: { path: '/limited', service: 'orders', rateLimit: { rate: '1/m', burst: 1, key: 'route' } } });
    expect((await request(app.port, { host: 'any.test', path: '/limited' })).status).toBe(200);
    expect((await request(app.port, { host: 'any.test', path: '/limited' })).status).toBe(429);
    // Another route's change rebuilds the whole table: the spent bucket must stay spent.
    await admin('PUT', '/v1/routes/other', { json: { path: '/other', service: 'orders' } });
    expect((await request(app.port, { host: 'any.test', path: '/other' })).status).toBe(200);
    expect((await request(app.port, { host: 'any.test', path: '/limited' })).status).toBe(429);

    const bad = await admin('PUT', '/v1/routes/bad', { json: { service: 'orders', rateLimit: { rate: 'fast' } } });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: 'invalid', field: 'rateLimit.rate' });
    // Every policy key is checked by the config file's schema: a bad one is refused naming its field.
    const refused = await admin('PUT', '/v1/routes/bad', { json: { service: 'orders', split: [{ weight: 0 }] } });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ error: 'invalid' });
    expect(String((refused.body as { field?: string }).field)).toMatch(/^split/);
    for (const id of ['closed', 'limited', 'other']) await admin('DELETE', `/v1/routes/${id}`);
    expect(await app.app.store.listRoutes()).toEqual([]);
  });

  it('lets a config route win over an API route on an equal match', async () => {
    await admin('PUT', '/v1/routes/pay', { json: { host: 'shop.test', path: '/pay', service: 'orders' } });
    expect(json<EchoReply>(await request(app.port, { host: 'shop.test', path: '/pay' })).backend).toBe('billing');
    await admin('DELETE', '/v1/routes/pay');
  });
});
