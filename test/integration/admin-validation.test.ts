import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdmin, type AdminHarness, type CallOptions } from './admin-harness.js';

const VALID = { host: '10.0.0.5', port: 8080 };
const REGISTER = '/v1/services/orders/instances';

interface Case {
  name: string;
  method?: string;
  path?: string;
  options: CallOptions;
  status: number;
  error: string;
  field?: string;
  message: string | RegExp;
}

const cases: Case[] = [
  {
    name: 'a service name in the URL that is not a valid name',
    path: '/v1/services/Orders_1/instances',
    options: { json: VALID },
    status: 400,
    error: 'invalid',
    field: 'service',
    message: 'service must be 1-63 lower-case letters, digits or "-", starting and ending with a letter or digit; got "Orders_1"',
  },
  {
    name: 'a service in the body that differs from the URL',
    options: { json: { ...VALID, service: 'users' } },
    status: 400,
    error: 'invalid',
    field: 'service',
    message: 'service in the body ("users") does not match the URL ("orders")',
  },
  {
    name: 'an id with a space',
    options: { json: { ...VALID, id: 'bad id' } },
    status: 400,
    error: 'invalid',
    field: 'id',
    message: 'id must be 1-128 of A-Z a-z 0-9 . _ : -; got "bad id"',
  },
  {
    name: 'a protocol the proxy does not speak',
    options: { json: { ...VALID, protocol: 'h3' } },
    status: 400,
    error: 'invalid',
    field: 'protocol',
    message: 'protocol must be one of http1, h2c, h2; got "h3"',
  },
  {
    name: 'a missing host',
    options: { json: { port: 8080 } },
    status: 400,
    error: 'invalid',
    field: 'host',
    message: 'host is required: an IP address or DNS name; got undefined',
  },
  {
    name: 'a host that is neither an IP address nor a DNS name',
    options: { json: { ...VALID, host: 'bad_host!' } },
    status: 400,
    error: 'invalid',
    field: 'host',
    message: 'host must be an IP address or DNS name; got "bad_host!"',
  },
  ...[0, 70000, '80'].map(
    (port): Case => ({
      name: `port ${JSON.stringify(port)}`,
      options: { json: { ...VALID, port } },
      status: 400,
      error: 'invalid',
      field: 'port',
      message: `port must be an integer from 1 to 65535; got ${JSON.stringify(port)}`,
    }),
  ),
  ...[-1, 10001, 1.5].map(
    (weight): Case => ({
      name: `weight ${weight}`,
      options: { json: { ...VALID, weight } },
      status: 400,
      error: 'invalid',
      field: 'weight',
      message: `weight must be an integer from 0 to 10000; got ${weight}`,
    }),
  ),
  ...[0, 3601].map(
    (ttl): Case => ({
      name: `ttl ${ttl}`,
      options: { json: { ...VALID, ttl } },
      status: 400,
      error: 'invalid',
      field: 'ttl',
      message: `ttl must be an integer number of seconds from 1 to 3600; got ${ttl}`,
    }),
  ),
  {
    name: 'status "UP!"',
    options: { json: { ...VALID, status: 'UP!' } },
    status: 400,
    error: 'invalid',
    field: 'status',
    message: 'status must be one of UP, DRAINING, OUT_OF_SERVICE; got "UP!"',
  },
  {
    name: 'tags that are not an array',
    options: { json: { ...VALID, tags: 'v2' } },
    status: 400,
    error: 'invalid',
    field: 'tags',
    message: 'tags must be an array of strings; got "v2"',
  },
  {
    name: 'too many tags',
    options: { json: { ...VALID, tags: Array.from({ length: 33 }, (_, i) => `t${i}`) } },
    status: 400,
    error: 'invalid',
    field: 'tags',
    message: 'tags may hold at most 32 entries; got 33',
  },
  {
    name: 'a metadata value that is not a string',
    options: { json: { ...VALID, metadata: { version: 2 } } },
    status: 400,
    error: 'invalid',
    field: 'metadata.version',
    message: 'metadata.version must be a string of at most 512 characters; got 2',
  },
  {
    name: 'metadata larger than 8 KiB',
    options: { json: { ...VALID, metadata: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, 'x'.repeat(500)])) } },
    status: 400,
    error: 'invalid',
    field: 'metadata',
    message: 'metadata must serialize to at most 8192 bytes',
  },
  {
    name: 'an unknown field',
    options: { json: { ...VALID, colour: 'red' } },
    status: 400,
    error: 'invalid',
    field: 'colour',
    message: 'unknown field "colour"',
  },
  {
    name: 'a body that is a JSON array, not an object',
    options: { json: [VALID] },
    status: 400,
    error: 'invalid',
    field: '',
    message: 'request body must be a JSON object with at least "host" and "port"',
  },
  {
    name: 'a body that is not valid JSON',
    options: { raw: '{"host": "10.0.0.5", "port": ', headers: { 'content-type': 'application/json' } },
    status: 400,
    error: 'invalid',
    message: 'request body is not valid JSON',
  },
  {
    name: 'an empty registration body',
    options: { raw: '', headers: { 'content-type': 'application/json', 'content-length': '0' } },
    status: 400,
    error: 'invalid',
    message: 'request body is empty; expected a JSON object',
  },
  {
    name: 'a text/plain content type',
    options: { raw: JSON.stringify(VALID), headers: { 'content-type': 'text/plain' } },
    status: 415,
    error: 'unsupported_media_type',
    message: 'request body must be application/json; got content-type "text/plain"',
  },
  {
    name: 'a body without a content type',
    options: { raw: JSON.stringify(VALID) },
    status: 415,
    error: 'unsupported_media_type',
    message: 'request body must be application/json; no content-type was sent',
  },
  {
    name: 'a body over admin.maxBodyBytes (declared length)',
    options: { json: { ...VALID, metadata: { big: 'x'.repeat(20_000) } } },
    status: 413,
    error: 'too_large',
    message: 'request body is larger than admin.maxBodyBytes (16384 bytes)',
  },
  {
    name: 'a body over admin.maxBodyBytes (chunked, no length)',
    options: {
      raw: JSON.stringify({ ...VALID, metadata: { big: 'x'.repeat(20_000) } }),
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
    },
    status: 413,
    error: 'too_large',
    message: 'request body is larger than admin.maxBodyBytes (16384 bytes)',
  },
  {
    name: 'bad percent-encoding in the path',
    path: '/v1/services/%E0%A4%A/instances',
    options: { json: VALID },
    status: 400,
    error: 'invalid',
    field: 'path',
    message: 'path segment "%E0%A4%A" is not valid percent-encoding',
  },
  {
    name: 'a heartbeat for an id that is not a valid id',
    method: 'PUT',
    path: '/v1/services/orders/instances/bad%20id/heartbeat',
    options: {},
    status: 400,
    error: 'invalid',
    field: 'id',
    message: 'id must be 1-128 of A-Z a-z 0-9 . _ : -; got "bad id"',
  },
  {
    name: 'a heartbeat with a negative weight',
    method: 'PUT',
    path: '/v1/services/orders/instances/a/heartbeat',
    options: { json: { weight: -1 } },
    status: 400,
    error: 'invalid',
    field: 'weight',
    message: 'weight must be an integer from 0 to 10000; got -1',
  },
  {
    name: 'a heartbeat with an unknown field',
    method: 'PUT',
    path: '/v1/services/orders/instances/a/heartbeat',
    options: { json: { weigth: 5 } },
    status: 400,
    error: 'invalid',
    field: 'weigth',
    message: 'unknown field "weigth"',
  },
  {
    name: 'a status body with an unknown status',
    method: 'PUT',
    path: '/v1/services/orders/instances/a/status',
    options: { json: { status: 'UP!' } },
    status: 400,
    error: 'invalid',
    field: 'status',
    message: 'status must be one of UP, DRAINING, OUT_OF_SERVICE; got "UP!"',
  },
  {
    name: 'a blocking query with a wait that is not a revision',
    method: 'GET',
    path: '/v1/services/orders?wait=abc',
    options: {},
    status: 400,
    error: 'invalid',
    field: 'wait',
    message: 'wait must be a revision: a non-negative integer; got "abc"',
  },
  {
    name: 'a blocking query with a timeout that is not a duration',
    method: 'GET',
    path: '/v1/services/orders?wait=0&timeout=soon',
    options: {},
    status: 400,
    error: 'invalid',
    field: 'timeout',
    message: 'timeout must be a duration like 500ms, 30s or 5m; got "soon"',
  },
];

describe('admin API input validation', () => {
  let admin: AdminHarness;
  beforeAll(async () => {
    admin = await startAdmin({ admin: { maxBodyBytes: 16 * 1024 } });
  });
  afterAll(() => admin.close());

  it.each(cases)('refuses $name with $status and stores nothing', async (c) => {
    const reply = await admin.call(c.method ?? 'POST', c.path ?? REGISTER, c.options);
    expect(reply.status).toBe(c.status);
    expect(reply.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(reply.body.error).toBe(c.error);
    if (typeof c.message === 'string') expect(reply.body.message).toBe(c.message);
    else expect(reply.body.message).toMatch(c.message);
    if (c.field !== undefined) expect(reply.body.field).toBe(c.field);

    const list = await admin.call('GET', '/v1/services');
    expect(list.body).toEqual({ services: [] });
    expect(await admin.store.listServices()).toEqual([]);
    expect(admin.mirror.revision).toBe(0);
  });

  it('still accepts a valid registration after all of that', async () => {
    const reply = await admin.call('POST', REGISTER, {
      json: VALID,
      headers: { 'content-type': 'application/json; charset=UTF-8' },
    });
    expect(reply.status).toBe(201);
    expect(reply.body).toMatchObject({ service: 'orders', host: '10.0.0.5', port: 8080, weight: 100, status: 'UP', ttl: 30 });
  });
});
