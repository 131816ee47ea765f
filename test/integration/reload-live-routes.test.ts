/**
 * Config reload and live routes together (issue 19): a reload swaps the config-file routes
 * of the one LiveRouter and keeps the registry's API and declared routes; route policies are
 * compiled again on reload with the app's shared policy state, so a rate limit that did not
 * change keeps its spent buckets while a changed one starts fresh.
 */
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { get, reloadFixtures, TOKEN, type ReloadApp } from './reload-harness.js';

const { proxy, backend } = reloadFixtures('reload-live-routes');

async function admin(p: ReloadApp, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${p.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: res.status === 204 ? undefined : await res.json() };
}

const backendOf = async (port: number, path: string): Promise<string | number> => {
  const reply = await get(port, 'x.test', path);
  return reply.status === 200 ? (JSON.parse(reply.body) as { backend: string }).backend : reply.status;
};

describe('config reload with live routes', () => {
  it('swaps the config routes and keeps the API and declared routes; an invalid file keeps all of them', async () => {
    const alpha = await backend('alpha');
    const beta = await backend('beta');
    const gamma = await backend('gamma');
    const base = { listen: '127.0.0.1:0', domains: [], routes: [{ path: '/alpha', service: 'alpha' }] };
    const p = await proxy(base);
    await p.register('alpha', alpha.port);
    await p.register('beta', beta.port);
    await p.app.store.register({ service: 'gamma', id: 'gamma-1', host: '127.0.0.1', port: gamma.port, routes: [{ path: '/gamma', stripPrefix: false }] });
    expect((await admin(p, 'PUT', '/v1/routes/from-api', { path: '/from-api', service: 'beta' })).status).toBe(201);
    const port = p.app.addresses.http[0]!.port;
    await waitFor('the declared route routes', async () => (await backendOf(port, '/gamma')) === 'gamma');

    // A blocking list of the routes is answered by the reload (config routes have no registry revision).
    const { revision } = (await admin(p, 'GET', '/v1/routes')).body as { revision: number };
    const waiting = admin(p, 'GET', `/v1/routes?wait=${revision}&timeout=30s`);
    p.write({ ...base, routes: [{ path: '/alpha2', service: 'alpha' }, { path: '/from-api', service: 'alpha' }] });
    expect((await p.reload()).status).toBe(200);
    expect(((await waiting).body as { routes: { route: { path: string } }[] }).routes[0]!.route.path).toBe('/alpha2');
    expect(await backendOf(port, '/alpha')).toBe(404);
    expect(await backendOf(port, '/alpha2')).toBe('alpha');
    // On an equal match the config route now wins over the API route, as documented.
    expect(await backendOf(port, '/from-api')).toBe('alpha');
    expect(await backendOf(port, '/gamma')).toBe('gamma');
    const listed = (await admin(p, 'GET', '/v1/routes')).body as { routes: { id: string; source: string }[] };
    expect(listed.routes.map((r) => `${r.id} ${r.source}`)).toEqual(['route[0] config', 'route[1] config', 'from-api api', 'service:gamma:/gamma declared']);

    p.write({ ...base, routes: [{ path: 'no-slash', service: 'alpha' }] });
    const refused = await p.reload();
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ error: 'invalid', field: 'routes.0.path' });
    expect(await backendOf(port, '/alpha2')).toBe('alpha');
    expect(await backendOf(port, '/gamma')).toBe('gamma');

    // Registry route changes after a reload build on the reloaded config routes.
    expect((await admin(p, 'DELETE', '/v1/routes/from-api')).status).toBe(204);
    expect((await admin(p, 'PUT', '/v1/routes/later', { path: '/later', service: 'beta' })).status).toBe(201);
    expect(await backendOf(port, '/later')).toBe('beta');
    expect(await backendOf(port, '/alpha2')).toBe('alpha');
  });

  it('compiles route policies again on reload; an unchanged rate limit keeps its spent buckets, a changed one starts fresh', async () => {
    const alpha = await backend('alpha');
    const limited = { path: '/limited', service: 'alpha', rateLimit: { rate: '1/m', burst: 1, key: 'route' } };
    const base = { listen: '127.0.0.1:0', domains: [], routes: [limited, { path: '/open', service: 'alpha' }] };
    const p = await proxy(base);
    await p.register('alpha', alpha.port);
    const port = p.app.addresses.http[0]!.port;
    expect(await backendOf(port, '/limited')).toBe('alpha');
    expect(await backendOf(port, '/limited')).toBe(429);
    expect(await backendOf(port, '/open')).toBe('alpha');

    p.write({ ...base, routes: [limited, { path: '/open', service: 'alpha', clientCidrs: { deny: ['127.0.0.0/8'] } }] });
    expect((await p.reload()).status).toBe(200);
    expect(await backendOf(port, '/open')).toBe(403);
    expect(await backendOf(port, '/limited')).toBe(429);

    p.write({ ...base, routes: [{ ...limited, rateLimit: { rate: '2/m', burst: 2, key: 'route' } }] });
    expect((await p.reload()).status).toBe(200);
    expect(await backendOf(port, '/limited')).toBe('alpha');
    expect(await backendOf(port, '/open')).toBe(404);

    p.write({ ...base, routes: [{ ...limited, rateLimit: { rate: 'often' } }] });
    const refused = await p.reload();
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ error: 'invalid', field: 'routes.0.rateLimit.rate' });
  });
});
