/**
 * Routes declared by services (issue 19) on a whole app: a registration carrying `routes`
 * makes them routable, they live while an instance declares them, a conflicting declaration
 * from another service is refused with 409 route_conflict, and the Node client and the
 * Consul API (fabio's urlprefix- tags) declare them too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/client/registry-client.js';
import { startBackend, type Backend, type EchoReply } from '../helpers/backends.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { waitFor } from '../helpers/wait.js';
import { call } from './admin-harness.js';
import { json, request } from './proxy-harness.js';

describe('declared routes', () => {
  let app: TestApp;
  let orders: Backend;
  let billing: Backend;
  const admin = (method: string, path: string, body?: unknown) =>
    call(app.app.addresses.admin.port, method, path, body === undefined ? {} : { json: body });
  const routeIds = async (): Promise<string[]> => (await admin('GET', '/v1/routes')).body.routes.map((r: { id: string }) => r.id);
  const statusOf = async (host: string, path: string) => (await request(app.port, { host, path })).status;

  beforeAll(async () => {
    orders = await startBackend({ name: 'orders' });
    billing = await startBackend({ name: 'billing' });
    app = await startApp({ domains: [], compat: { consul: true } });
  });
  afterAll(async () => {
    await app?.stop();
    await orders?.close();
    await billing?.close();
  });

  it('routes what an instance declares from its registration until the last declaring instance leaves', async () => {
    const routes = [{ path: '/api/orders', stripPrefix: true }, { host: 'orders.test' }];
    const first = await admin('POST', '/v1/services/orders/instances', { id: 'o-1', host: '127.0.0.1', port: orders.port, routes });
    expect(first.status).toBe(201);
    expect(first.body.routes).toEqual([{ path: '/api/orders', stripPrefix: true }, { host: 'orders.test', path: '/', stripPrefix: false }]);
    // The registration answers once this proxy's mirror shows it; the router rebuilt in the same turn.
    const routed = await request(app.port, { host: 'any.test', path: '/api/orders/7?x=1' });
    expect(json<EchoReply>(routed)).toMatchObject({ backend: 'orders', url: '/7?x=1' });
    expect(json<EchoReply>(await request(app.port, { host: 'orders.test', path: '/list' }))).toMatchObject({ url: '/list' });
    const listing = (await admin('GET', '/v1/routes')).body.routes;
    expect(listing).toContainEqual({
      id: 'service:orders:/api/orders',
      source: 'declared',
      declaredBy: 'orders',
      route: { path: '/api/orders', stripPrefix: true, service: 'orders' },
    });
    expect(await routeIds()).toContain('service:orders:orders.test/');

    await admin('POST', '/v1/services/orders/instances', { id: 'o-2', host: '127.0.0.1', port: orders.port, routes: [routes[0]] });
    expect((await admin('DELETE', '/v1/services/orders/instances/o-1')).status).toBe(204);
    expect(await statusOf('any.test', '/api/orders/7')).toBe(200);
    // o-1 alone declared the host route.
    await waitFor('the host route to go with o-1', async () => !(await routeIds()).includes('service:orders:orders.test/') || undefined);
    expect(await statusOf('orders.test', '/list')).toBe(404);
    expect((await admin('DELETE', '/v1/services/orders/instances/o-2')).status).toBe(204);
    await waitFor('the path route to go with o-2', async () => !(await routeIds()).includes('service:orders:/api/orders') || undefined);
    expect(await statusOf('any.test', '/api/orders/7')).toBe(404);
  });

  it('refuses a route another service declares with 409 route_conflict naming the owner', async () => {
    await admin('POST', '/v1/services/orders/instances', { id: 'o-3', host: '127.0.0.1', port: orders.port, routes: [{ path: '/shared' }] });
    const refused = await admin('POST', '/v1/services/billing/instances', { id: 'b-1', host: '127.0.0.1', port: billing.port, routes: [{ path: '/shared' }] });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ error: 'route_conflict', field: 'routes' });
    expect(refused.body.message).toContain('declared by service "orders"');
    expect(app.app.mirror.service('billing')?.instances ?? []).toEqual([]);
    expect(json<EchoReply>(await request(app.port, { host: 'x', path: '/shared' })).backend).toBe('orders');
    await admin('DELETE', '/v1/services/orders/instances/o-3');
  });

  it('answers 400 naming the field for a bad declared route', async () => {
    const bad = await admin('POST', '/v1/services/orders/instances', { host: '127.0.0.1', port: orders.port, routes: [{ path: 'nope' }] });
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe('routes[0].path');
    const unknown = await admin('POST', '/v1/services/orders/instances', { host: '127.0.0.1', port: orders.port, routes: [{ service: 'x' }] });
    expect(unknown.body.field).toBe('routes[0].service');
  });

  it('takes routes declared through the Node client', async () => {
    const client = new RegistryClient({ url: `http://127.0.0.1:${app.app.addresses.admin.port}` });
    const registration = client.register({ service: 'billing', host: '127.0.0.1', port: billing.port, routes: [{ path: '/pay', stripPrefix: true }] });
    const stored = await registration.ready;
    expect(stored.routes).toEqual([{ path: '/pay', stripPrefix: true }]);
    expect(json<EchoReply>(await request(app.port, { host: 'x', path: '/pay/now' }))).toMatchObject({ backend: 'billing', url: '/now' });
    await registration.deregister();
    await client.close();
    await waitFor('the client route to go', async () => (await statusOf('x', '/pay/now')) === 404 || undefined);
  });

  it('reads Consul urlprefix- tags as fabio does', async () => {
    const reply = await admin('PUT', '/v1/agent/service/register', {
      Name: 'shop',
      ID: 'shop-1',
      Address: '127.0.0.1',
      Port: orders.port,
      Tags: ['urlprefix-shop.test/', 'urlprefix-/cart strip=/cart', 'urlprefix-:9000', 'v2'],
    });
    expect(reply.status).toBe(200);
    expect(app.app.mirror.service('shop')?.instances[0]?.routes).toEqual([
      { host: 'shop.test', path: '/', stripPrefix: false },
      { path: '/cart', stripPrefix: true },
    ]);
    expect(json<EchoReply>(await request(app.port, { host: 'x', path: '/cart/1' })).url).toBe('/1');
    expect(json<EchoReply>(await request(app.port, { host: 'shop.test', path: '/a' })).url).toBe('/a');
    await admin('PUT', '/v1/agent/service/deregister/shop-1');
    await waitFor('the tag routes to go', async () => (await statusOf('shop.test', '/a')) === 404 || undefined);
  });
});
