/**
 * One error skeleton, three formats: on one admin listener, the native API answers
 * refusals as DESIGN §4 JSON, Consul paths as plain text and Eureka paths with a
 * bare status, and every 405 says which methods the path takes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCompat, type CompatHarness } from './compat-harness.js';

describe('refusals on an admin listener with the compat APIs on', () => {
  let h: CompatHarness;

  beforeAll(async () => {
    h = await startCompat();
  });
  afterAll(async () => {
    await h?.close();
  });

  it.each<[string, string, string, number, string | undefined, RegExp]>([
    ['a Consul path refuses an unsupported method in plain text, with Allow', 'DELETE', '/v1/catalog/services', 405, 'GET', /^this path accepts GET$/],
    ['a Eureka path refuses an unsupported method with a bare status, with Allow', 'PATCH', '/eureka/v2/apps/ORDERS', 405, 'GET, POST', /^$/],
    ['a Consul path with bad percent-encoding is a 400 naming the path', 'GET', '/v1/catalog/service/%E0', 400, undefined, /^Invalid path: path segment "%E0" is not valid percent-encoding$/],
    ['a Eureka path with bad percent-encoding is a bare 400', 'GET', '/eureka/apps/%E0', 400, undefined, /^$/],
    ['an unknown Consul path is a plain-text 404', 'GET', '/v1/agent/members', 404, undefined, /^Invalid URL path: not a supported Consul API path$/],
  ])('%s', async (_name, method, path, status, allow, text) => {
    const reply = await h.call(method, path);
    expect(reply.status).toBe(status);
    expect(reply.headers.allow).toBe(allow);
    expect(reply.text).toMatch(text);
    expect(reply.headers['content-type'] ?? '').not.toMatch(/json/);
  });

  it('leaves the native /v1/services paths to the native API and its JSON errors', async () => {
    const reply = await h.call('GET', '/v1/services/%E0');
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ error: 'invalid', field: 'path' });
    const method = await h.call('PATCH', '/v1/services');
    expect(method.status).toBe(405);
    expect(method.headers.allow).toBe('GET');
    expect(method.body).toMatchObject({ error: 'method_not_allowed' });
  });
});
