import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdmin, type AdminHarness } from './admin-harness.js';

const TOKEN = 's3cret-token';
const BODY = { id: 'a', host: '10.1.2.3', port: 80 };

describe('admin API token', () => {
  let h: AdminHarness;
  beforeAll(async () => {
    h = await startAdmin({ admin: { token: TOKEN } });
  });
  afterAll(() => h.close());

  it('refuses a mutation without a token with 401 and a Bearer challenge', async () => {
    const reply = await h.call('POST', '/v1/services/orders/instances', { json: BODY });
    expect(reply.status).toBe(401);
    expect(reply.headers['www-authenticate']).toBe('Bearer realm="waypost"');
    expect(reply.body).toEqual({
      error: 'unauthorized',
      message: 'this call needs an Authorization: Bearer <token> header (admin.token is set)',
    });
    expect(await h.store.listServices()).toEqual([]);
  });

  it('refuses a wrong token, including a prefix of the right one', async () => {
    for (const token of ['wrong', TOKEN.slice(0, -1), `${TOKEN}x`]) {
      const reply = await h.call('POST', '/v1/services/orders/instances', { json: BODY, token });
      expect(reply.status).toBe(401);
      expect(reply.body).toEqual({ error: 'unauthorized', message: 'the bearer token does not match admin.token' });
    }
    const basic = await h.call('DELETE', '/v1/services/orders/instances/a', { headers: { authorization: `Basic ${TOKEN}` } });
    expect(basic.status).toBe(401);
    expect(await h.store.listServices()).toEqual([]);
  });

  it('accepts every mutation with the right token', async () => {
    const created = await h.call('POST', '/v1/services/orders/instances', { json: BODY, token: TOKEN });
    expect(created.status).toBe(201);
    expect((await h.call('PUT', '/v1/services/orders/instances/a/heartbeat', { token: TOKEN })).status).toBe(200);
    expect((await h.call('PUT', '/v1/services/orders/instances/a/heartbeat')).status).toBe(401);
    expect((await h.call('PUT', '/v1/services/orders/instances/a/status', { json: { status: 'DRAINING' }, token: TOKEN })).status).toBe(200);
    expect((await h.call('PUT', '/v1/services/orders/instances/a/status', { json: { status: 'UP' } })).status).toBe(401);
    expect((await h.call('DELETE', '/v1/services/orders/instances/a')).status).toBe(401);
    expect((await h.call('DELETE', '/v1/services/orders/instances/a', { token: TOKEN })).status).toBe(204);
  });

  it('lets reads through without a token', async () => {
    expect((await h.call('GET', '/v1/services')).status).toBe(200);
    expect((await h.call('GET', '/healthz')).status).toBe(200);
    expect((await h.call('GET', '/metrics')).status).toBe(200);
  });
});

describe('admin API allowed CIDRs', () => {
  let h: AdminHarness;
  beforeAll(async () => {
    h = await startAdmin({ admin: { allowedCidrs: ['10.0.0.0/8', 'fd00::/8', '192.168.1.7'] } });
  });
  afterAll(() => h.close());

  it.each(['10.20.30.40', 'fd00::1', '192.168.1.7', '::ffff:10.0.0.1'])('accepts a host inside the ranges: %s', async (host) => {
    const reply = await h.call('POST', '/v1/services/orders/instances', { json: { host, port: 80 } });
    expect(reply.status).toBe(201);
  });

  it.each(['11.0.0.1', '192.168.1.8', 'fe80::1', '127.0.0.1'])('refuses a host outside the ranges with 403: %s', async (host) => {
    const reply = await h.call('POST', '/v1/services/billing/instances', { json: { host, port: 80 } });
    expect(reply.status).toBe(403);
    expect(reply.body).toEqual({ error: 'forbidden', message: `host "${host}" is outside admin.allowedCidrs`, field: 'host' });
    expect((await h.call('GET', '/v1/services/billing')).status).toBe(404);
  });

  it('refuses a DNS name that does not resolve, since it cannot be checked against the ranges', async () => {
    const reply = await h.call('POST', '/v1/services/billing/instances', { json: { host: 'evil.invalid', port: 80 } });
    expect(reply.status).toBe(403);
    expect(reply.body).toMatchObject({ error: 'forbidden', field: 'host' });
    expect(reply.body.message).toMatch(/^host "evil\.invalid" does not resolve \(.+\); a name is checked against admin\.allowedCidrs by its addresses$/);
    expect(await h.store.getService('billing')).toMatchObject({ instances: [] });
  });

  it('checks a DNS name by every address it resolves to', async () => {
    const reply = await h.call('POST', '/v1/services/billing/instances', { json: { host: 'localhost', port: 80 } });
    expect(reply.status).toBe(403);
    expect(reply.body).toMatchObject({ error: 'forbidden', field: 'host' });
    expect(reply.body.message).toMatch(/^host "localhost" resolves to .*127\.0\.0\.1.*, outside admin\.allowedCidrs$/);
  });

  it('checks every numeric spelling as the address it reaches', async () => {
    // 10.0.0.1 in inet_aton forms is inside 10.0.0.0/8 (and stored canonical); 0xc0a80107 is the allowed 192.168.1.7.
    for (const [host, stored] of [['0x0a.1', '10.0.0.1'], ['167772161', '10.0.0.1'], ['0xc0a80107', '192.168.1.7'], ['::ffff:a00:1', '10.0.0.1']]) {
      const reply = await h.call('POST', '/v1/services/payments/instances', { json: { id: 'x', host, port: 80 } });
      expect(reply.status, host).toBe(201);
      expect(reply.body.host, host).toBe(stored);
    }
    // 127.1 is 127.0.0.1, outside every range.
    const loopback = await h.call('POST', '/v1/services/payments/instances', { json: { host: '127.1', port: 80 } });
    expect(loopback.status).toBe(403);
    expect(loopback.body).toEqual({ error: 'forbidden', message: 'host "127.0.0.1" is outside admin.allowedCidrs', field: 'host' });
  });
});
