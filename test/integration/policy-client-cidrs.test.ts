/**
 * clientCidrs end to end: the address matched is the trusted client address
 * (the left-most X-Forwarded-For entry when the peer is a trusted proxy, else
 * the peer itself), so a spoofed X-Forwarded-For from an untrusted peer does not
 * get a client in, nor out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type TestApp } from '../helpers/app.js';
import { startBackend, type Backend } from '../helpers/backends.js';
import { request } from './proxy-harness.js';

const HOST = 'api.localhost';
let backend: Backend;
let trusting: TestApp;
let untrusting: TestApp;

beforeAll(async () => {
  backend = await startBackend({ name: 'api' });
  const route = { host: HOST, service: 'api', clientCidrs: { allow: ['10.0.0.0/8', '2001:db8::/32'], deny: ['10.9.0.0/16'] } };
  trusting = await startApp({ routes: [route], trustedProxies: ['127.0.0.0/8'] });
  // Here the peer (127.0.0.1) is the client: it is allowed, 10.9.0.0/16 is denied.
  untrusting = await startApp({ routes: [{ ...route, clientCidrs: { allow: ['127.0.0.0/8'], deny: ['10.9.0.0/16'] } }], trustedProxies: ['192.0.2.0/24'] });
  for (const app of [trusting, untrusting]) await app.register({ service: 'api', id: 'a', host: '127.0.0.1', port: backend.port });
});
afterAll(async () => {
  await trusting?.stop();
  await untrusting?.stop();
  await backend?.close();
});

const via = (app: TestApp, forwardedFor?: string) =>
  request(app.port, { host: HOST, headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor } });

describe('clientCidrs behind a trusted proxy', () => {
  it('matches the forwarded client address in any spelling; deny wins', async () => {
    for (const client of ['10.1.2.3', '::ffff:10.1.2.3', '10.1.2.3, 127.0.0.1', '[2001:db8::7]:443']) {
      const reply = await via(trusting, client);
      expect(reply.status, client).toBe(200);
      expect(reply.headers['x-backend']).toBe('api');
    }
    for (const client of ['10.9.0.1', '::ffff:10.9.0.1', '192.0.2.1', 'unknown']) {
      const reply = await via(trusting, client);
      expect(reply.status, client).toBe(403);
      expect(JSON.parse(reply.body.toString())).toMatchObject({ error: 'forbidden' });
    }
    // Without X-Forwarded-For the peer itself (127.0.0.1) is the client: outside the allow list.
    expect((await via(trusting)).status).toBe(403);
  });

  it('matches the peer of an untrusted proxy, not what it forwards (a denied address does not lock it out)', async () => {
    expect((await via(untrusting, '10.9.0.1')).status).toBe(200);
    expect((await via(untrusting, '10.1.2.3')).status).toBe(200);
    const metrics = await untrusting.app.metrics.registry.metrics();
    expect(metrics).toContain('waypost_requests_total{service="api",code="200"}');
  });

  it('refuses an untrusted peer outside the allow list whatever allowed address it forwards', async () => {
    const outsider = await startApp({
      routes: [{ host: HOST, service: 'api', clientCidrs: { allow: ['10.0.0.0/8'] } }],
      trustedProxies: ['192.0.2.0/24'],
    });
    try {
      await outsider.register({ service: 'api', id: 'a', host: '127.0.0.1', port: backend.port });
      const reply = await via(outsider, '10.1.2.3');
      expect(reply.status).toBe(403);
      expect(reply.headers['x-request-id']).toBeTruthy();
    } finally {
      await outsider.stop();
    }
  });
});
