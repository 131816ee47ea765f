/**
 * Property-based fuzzing of the admin API (fast-check): thousands of generated
 * bodies for every write endpoint and generated paths for every method. Every
 * answer is a success or a 4xx JSON error {error, message}; never a 5xx, never
 * a crash; a refused call leaves the registry exactly as it was.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdmin, type AdminHarness, type Reply } from './admin-harness.js';
import { startCompat, type CompatHarness } from './compat-harness.js';

let h: AdminHarness;

beforeAll(async () => {
  h = await startAdmin({ admin: { maxBodyBytes: 16 * 1024 } });
  // A known instance so heartbeat/status/deregister paths can also succeed.
  await h.store.register({ service: 'known', id: 'k1', host: '10.0.0.1', port: 80, ttl: 3600 });
});
afterAll(() => h.close());

/** Everything the registry holds, as one comparable string. */
async function registryContents(): Promise<string> {
  const services = await h.store.listServices();
  const states = await Promise.all(services.map((s) => h.store.getService(s.name)));
  return JSON.stringify(states.map((s) => s.instances.map(({ leaseExpiresAt: _l, registeredAt: _r, ...rest }) => rest)));
}

function expectWellFormed(reply: Reply, what: string, head = false): void {
  expect(reply.status, what).toBeLessThan(500);
  // A HEAD answer has the headers of the JSON error but no body.
  if (reply.status >= 400 && !head) {
    expect(reply.headers['content-type'], what).toBe('application/json; charset=utf-8');
    expect(typeof reply.body?.error, `${what} → ${reply.text}`).toBe('string');
    expect(typeof reply.body?.message, `${what} → ${reply.text}`).toBe('string');
  }
}

const fieldValue = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 40 }),
  fc.dictionary(fc.string(), fc.oneof(fc.string({ maxLength: 600 }), fc.integer())),
  fc.constantFrom('10.0.0.7', '::1', '[::1]', 'db.internal', '', 'UP', 'DRAINING', 0, 65_536, -1, 100, 10_001, '__proto__'),
);

/** Mostly registration-shaped objects (to get past the first check), plus any JSON at all. */
const registrationLike = fc.oneof(
  fc.record(
    {
      id: fieldValue,
      service: fc.oneof(fieldValue, fc.constant('fuzz')),
      host: fieldValue,
      port: fc.oneof(fieldValue, fc.integer({ min: 1, max: 65_535 })),
      weight: fieldValue,
      zone: fieldValue,
      tags: fieldValue,
      metadata: fieldValue,
      status: fieldValue,
      ttl: fieldValue,
      extra: fieldValue,
    },
    { requiredKeys: [] },
  ),
  fc.jsonValue(),
);

/** A body as sent on the wire: JSON of a value, or arbitrary text. */
const wireBody = fc.oneof(
  { weight: 4, arbitrary: registrationLike.map((v) => JSON.stringify(v) ?? 'null') },
  { weight: 1, arbitrary: fc.string({ unit: 'binary' }) },
  { weight: 1, arbitrary: fc.constantFrom('', '{', '{"host":', '[]', 'null', '{"__proto__":{"x":1}}', '\u0000', '{"a":1}'.repeat(3000)) },
);

const contentType = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'APPLICATION/JSON', '', undefined);

describe('admin API under generated input', () => {
  it('answers generated write bodies on every write endpoint with success or a 4xx JSON error, storing nothing on refusal', async () => {
    const endpoint = fc.constantFrom(
      ['POST', '/v1/services/fuzz/instances'],
      ['PUT', '/v1/services/known/instances/k1/heartbeat'],
      ['PUT', '/v1/services/known/instances/k1/status'],
      ['PUT', '/v1/services/fuzz/instances/nope/status'],
    );
    await fc.assert(
      fc.asyncProperty(endpoint, wireBody, contentType, async ([method, path], body, type) => {
        const before = await registryContents();
        const headers: Record<string, string> = type === undefined ? {} : { 'content-type': type };
        const reply = await h.call(method!, path!, { raw: body, headers });
        expectWellFormed(reply, `${method} ${path} ${body.slice(0, 200)}`);
        if (reply.status >= 400) expect(await registryContents()).toBe(before);
        // Keep the known instance UP for the next runs.
        if (reply.status < 300 && path!.endsWith('/status')) await h.store.setStatus('known', 'k1', 'UP');
      }),
      { numRuns: 2000 },
    );
  }, 60_000);

  it('answers generated paths with every method with success or a 4xx JSON error, storing nothing on refusal', async () => {
    const segment = fc.oneof(
      fc.string().map(encodeURIComponent),
      fc.constantFrom('v1', 'services', 'instances', 'heartbeat', 'status', 'known', 'k1', '', '..', '.', '%', '%zz', '%00', '%2F', '%C0%AF', 'a'.repeat(300)),
    );
    const path = fc.tuple(fc.boolean(), fc.array(segment, { maxLength: 7 }), fc.constantFrom('', '?wait=abc', '?wait=1&timeout=1ms', '?timeout=-1', '?%zz'))
      .map(([prefixed, segments, query]) => `/${prefixed ? ['v1', 'services', ...segments].join('/') : segments.join('/')}${query}`);
    const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS');
    await fc.assert(
      fc.asyncProperty(method, path, async (m, p) => {
        // A delete of the known instance is a legitimate success; keep it out so "nothing stored" stays checkable.
        if (m === 'DELETE' && /\/known\/instances\/k1$/.test(p)) return;
        const before = await registryContents();
        const reply = await h.call(m, p, { json: { host: '10.0.0.9', port: 81 } });
        expectWellFormed(reply, `${m} ${p}`, m === 'HEAD');
        if (reply.status >= 400) expect(await registryContents()).toBe(before);
      }),
      { numRuns: 1500 },
    );
    expect((await h.call('GET', '/healthz')).status).toBe(200);
  }, 60_000);
});

/** `depth` levels of objects (`{"a":{"a":…"x"…}}`) or arrays (`[[…"x"…]]`), built as text: JSON.stringify would overflow. */
function nestedText(shape: 'object' | 'array', depth: number): string {
  return shape === 'object' ? `${'{"a":'.repeat(depth)}"x"${'}'.repeat(depth)}` : `${'['.repeat(depth)}"x"${']'.repeat(depth)}`;
}

const EUREKA_INSTANCE = '"app":"FUZZ","hostName":"h","ipAddr":"10.0.0.7","port":{"$":80,"@enabled":"true"},"dataCenterInfo":{"name":"MyOwn"}';

/**
 * Where a deep value goes, per endpoint: `DEEP` is replaced by the nested text; a bare `DEEP` is the whole
 * body. Each API answers errors in its own way: native JSON, Consul plain text, Eureka a bare status.
 */
const DEEP_BODIES: ReadonlyArray<readonly [method: string, path: string, errors: 'json' | 'text' | 'status', templates: readonly string[]]> = [
  ['POST', '/v1/services/fuzz/instances', 'json', ['{"host":"10.0.0.7","port":80,"metadata":DEEP}', '{"host":"10.0.0.7","port":80,"tags":DEEP}', 'DEEP']],
  ['PUT', '/v1/services/known/instances/k1/heartbeat', 'json', ['{"weight":DEEP}', 'DEEP']],
  ['PUT', '/v1/services/known/instances/k1/status', 'json', ['{"status":DEEP}', 'DEEP']],
  ['POST', '/eureka/apps/FUZZ', 'status', [`{"instance":{${EUREKA_INSTANCE},"metadata":DEEP}}`, `{"instance":{${EUREKA_INSTANCE},"metadata":{"k":DEEP}}}`, 'DEEP']],
  ['PUT', '/v1/agent/service/register', 'text', ['{"Name":"fuzz","Port":80,"Meta":DEEP}', '{"Name":"fuzz","Port":80,"Tags":DEEP}', 'DEEP']],
];

describe('admin and compat APIs under deeply nested JSON', () => {
  let compat: CompatHarness;
  beforeAll(async () => {
    // A body limit above the deepest body, so every depth reaches the JSON parser instead of stopping at 413.
    compat = await startCompat({ config: { admin: { maxBodyBytes: 1024 * 1024 } } });
    await compat.store.register({ service: 'known', id: 'k1', host: '10.0.0.1', port: 80, ttl: 3600 });
  });
  afterAll(() => compat.close());

  it.each([10, 31, 32, 33, 100, 1_000, 5_000, 10_000, 100_000])(
    'answers objects and arrays nested %i deep in metadata, tags and the whole body with 4xx, never 500, on native, Eureka and Consul endpoints',
    async (depth) => {
      for (const [method, path, errors, templates] of DEEP_BODIES) {
        for (const template of templates) {
          for (const shape of ['object', 'array'] as const) {
            const body = template.replace('DEEP', nestedText(shape, depth));
            const reply = await compat.call(method, path, { raw: body, headers: { 'content-type': 'application/json' } });
            const what = `${method} ${path} ${template} ${shape} ${depth} deep → ${reply.text.slice(0, 200)}`;
            expect(reply.status, what).toBeGreaterThanOrEqual(400);
            expect(reply.status, what).toBeLessThan(500);
            if (errors === 'json') expectWellFormed(reply, what);
            // Anything deeper than the limit (32, the body itself counting as one) is refused by the parser, naming the limit.
            const totalDepth = depth + (template === 'DEEP' ? 0 : template.split('DEEP')[0]!.split(/[{[]/).length - 1);
            if (totalDepth > 32 && errors !== 'status') expect(reply.text, what).toContain('deeper than 32 levels');
          }
        }
      }
      expect((await compat.call('GET', '/healthz')).status).toBe(200);
    },
    60_000,
  );

  it('names the top-level field that holds the deep value', async () => {
    const reply = await compat.call('POST', '/v1/services/fuzz/instances', {
      raw: `{"host":"10.0.0.7","port":80,"metadata":${nestedText('object', 5_000)}}`,
      headers: { 'content-type': 'application/json' },
    });
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({
      error: 'invalid',
      field: 'metadata',
      message: 'metadata nests deeper than 32 levels of objects and arrays; at most 32 are allowed',
    });
  });
});
