/**
 * forward-auth against real auth servers on loopback (the app's AuthClient over
 * undici), with a small PolicyRequest that records how the step answered.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.js';
import type { AuthConfig } from '../../../src/config/policy-schema.js';
import type { Endpoint } from '../../../src/endpoint.js';
import { Metrics } from '../../../src/metrics.js';
import { AUTH_MAX_BODY_BYTES, AuthClient } from '../../../src/policy/auth-client.js';
import { ForwardAuth, type AuthTargets } from '../../../src/policy/forward-auth.js';
import type { PolicyErrorCode, PolicyRequest } from '../../../src/policy/step.js';
import { deadPort } from '../../helpers/ports.js';
import { endpointFor } from '../../helpers/static-router.js';

interface Seen {
  url: string;
  method: string;
  headers: IncomingHttpHeaders;
}

/** An auth server answering with `answer(req)`; records what it was asked. */
async function authServer(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', method: req.method ?? '', headers: req.headers });
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  servers.push(server);
  return { seen, port, url: `http://127.0.0.1:${port}` };
}

const servers: http.Server[] = [];

/** What the step did with the request: went on, rejected with a code, or answered. */
class RecordingRequest implements PolicyRequest {
  rejected: PolicyErrorCode | undefined;
  answered: { status: number; headers: OutgoingHttpHeaders; body: string } | undefined;
  readonly req: http.IncomingMessage;
  readonly res = {} as http.ServerResponse;
  readonly clientIp = '192.0.2.7';
  readonly requestId = 'req-1';
  readonly host = 'shop.test';
  readonly service = 'shop';
  readonly routeId = 'route[0]';
  readonly scheme = 'https';
  upstreamPath = '/cart?x=1';
  readonly instance = '';

  constructor(headers: IncomingHttpHeaders, method = 'POST', url = '/cart?x=1') {
    this.req = { headers, method, url } as http.IncomingMessage;
  }

  reject(code: PolicyErrorCode): void {
    this.rejected = code;
  }

  respond(status: number, headers: OutgoingHttpHeaders, body?: Buffer | string): void {
    this.answered = { status, headers, body: body === undefined ? '' : body.toString() };
  }
}

function authConfig(auth: Record<string, unknown>): AuthConfig {
  return configSchema.parse({ routes: [{ service: 'shop', auth }] }).routes[0]!.auth!;
}

/** A registered auth service's instances in a fixed order (the app uses the route machinery). */
function listTargets(endpoints: Endpoint[]): AuthTargets {
  return { pick: (_service, _request, tried) => endpoints.find((e) => !tried.some((t) => t.key === e.key)) };
}

let client: AuthClient;
let metrics: Metrics;
beforeAll(() => {
  client = new AuthClient();
});
afterEach(() => {
  metrics = new Metrics({ processMetrics: false });
});
metrics = new Metrics({ processMetrics: false });
afterAll(async () => {
  await client.close();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

async function counted(result: string): Promise<number> {
  const values = (await metrics.authRequests.get()).values;
  return values.find((v) => v.labels.result === result)?.value ?? 0;
}

describe('ForwardAuth', () => {
  it('asks with the request headers (no hop-by-hop, no framing) and X-Forwarded-*, then copies the named headers', async () => {
    const auth = await authServer((_req, res) => res.writeHead(200, { 'x-user-id': 'alice', 'x-other': 'no' }).end('ok'));
    const step = new ForwardAuth(authConfig({ url: `${auth.url}/verify?v=1`, copyHeaders: ['X-User-Id', 'x-role'] }), 'shop', { metrics, authClient: client });
    const request = new RecordingRequest({
      host: 'shop.test:8080',
      authorization: 'Bearer t',
      connection: 'keep-alive, x-hop',
      'x-hop': 'drop me',
      'content-length': '5',
      'transfer-encoding': 'chunked',
      'x-forwarded-for': '203.0.113.9',
      'x-user-id': 'mallory',
      'x-role': 'admin',
      via: '1.1 me (waypost)',
    });
    expect(await step.run(request)).toBe(true);
    expect(request.rejected).toBeUndefined();
    const asked = auth.seen[0]!;
    expect(asked.method).toBe('GET');
    expect(asked.url).toBe('/verify?v=1');
    expect(asked.headers).toMatchObject({
      authorization: 'Bearer t',
      'x-forwarded-method': 'POST',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'shop.test:8080',
      'x-forwarded-uri': '/cart?x=1',
      'x-forwarded-for': '192.0.2.7',
      'x-request-id': 'req-1',
      via: '1.1 me (waypost)',
    });
    expect(asked.headers.host).toBe(`127.0.0.1:${auth.port}`);
    for (const name of ['x-hop', 'content-length', 'transfer-encoding']) expect(asked.headers[name]).toBeUndefined();
    // The answer's x-user-id replaces the client's; x-role (absent from the answer) is removed, not kept.
    expect(request.req.headers['x-user-id']).toBe('alice');
    expect(request.req.headers['x-role']).toBeUndefined();
    expect(request.req.headers['x-other']).toBeUndefined();
    expect(await counted('allowed')).toBe(1);
  });

  it('returns a denial to the client as it is: status, headers (minus hop-by-hop) and body', async () => {
    const auth = await authServer((_req, res) =>
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="shop"', 'set-cookie': ['a=1', 'b=2'], connection: 'close, x-secret', 'x-secret': 'hop', 'content-type': 'text/plain' }).end('who are you?'),
    );
    const step = new ForwardAuth(authConfig({ url: auth.url }), 'shop', { metrics, authClient: client });
    const request = new RecordingRequest({ host: 'shop.test' });
    expect(await step.run(request)).toBe(false);
    expect(request.answered).toMatchObject({
      status: 401,
      headers: { 'www-authenticate': 'Bearer realm="shop"', 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/plain' },
      body: 'who are you?',
    });
    expect(request.answered!.headers.connection).toBeUndefined();
    expect(request.answered!.headers['x-secret']).toBeUndefined();
    expect(request.answered!.headers['content-length']).toBeUndefined();
    expect(await counted('denied')).toBe(1);
  });

  it('refuses (503 auth_unavailable) when the auth service is down, slow, or answers a denial too large to relay', async () => {
    const down = new ForwardAuth(authConfig({ url: `http://127.0.0.1:${await deadPort()}` }), 'shop', { metrics, authClient: client });
    const slowAuth = await authServer((_req, res) => setTimeout(() => res.writeHead(200).end(), 3000).unref());
    const slow = new ForwardAuth(authConfig({ url: slowAuth.url, timeout: '200ms' }), 'shop', { metrics, authClient: client });
    const bigAuth = await authServer((_req, res) => res.writeHead(403).end(Buffer.alloc(AUTH_MAX_BODY_BYTES + 1)));
    const big = new ForwardAuth(authConfig({ url: bigAuth.url }), 'shop', { metrics, authClient: client });
    for (const step of [down, slow, big]) {
      const request = new RecordingRequest({ host: 'shop.test' });
      expect(await step.run(request)).toBe(false);
      expect(request.rejected).toBe('auth_unavailable');
      expect(request.answered).toBeUndefined();
    }
    expect(await counted('failed')).toBe(3);
  });

  it('asks a registered service, moving to another instance when one cannot be connected to', async () => {
    const auth = await authServer((_req, res) => res.writeHead(204, { 'x-user-id': 'bob' }).end());
    const dead = endpointFor('auth', `127.0.0.1:${await deadPort()}`, 0);
    const live = endpointFor('auth', `127.0.0.1:${auth.port}`, 1);
    const failures: string[] = [];
    const step = new ForwardAuth(authConfig({ service: 'auth', path: '/check', copyHeaders: ['x-user-id'] }), 'shop', {
      metrics,
      authClient: client,
      authTargets: listTargets([dead, live]),
      outcomes: { onSuccess: () => {}, onFailure: (endpoint, reason) => failures.push(`${endpoint.key} ${reason}`) },
    });
    const request = new RecordingRequest({ host: 'shop.test' });
    expect(await step.run(request)).toBe(true);
    expect(request.req.headers['x-user-id']).toBe('bob');
    expect(auth.seen[0]!.url).toBe('/check');
    expect(failures).toEqual([`${dead.key} connect_refused`]);
    expect(dead.stats.inflight + live.stats.inflight).toBe(0);
  });

  it('refuses when the registered service has no instance', async () => {
    const step = new ForwardAuth(authConfig({ service: 'auth' }), 'shop', { metrics, authClient: client, authTargets: listTargets([]) });
    const request = new RecordingRequest({ host: 'shop.test' });
    expect(await step.run(request)).toBe(false);
    expect(request.rejected).toBe('auth_unavailable');
  });

  it('is refused at config load without exactly one of service and url, naming the field', () => {
    const result = configSchema.safeParse({ routes: [{ service: 'shop', auth: { copyHeaders: ['x-user'] } }] });
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.path.join('.')).join()).toContain('routes.0.auth');
    expect(configSchema.safeParse({ routes: [{ service: 'shop', auth: { url: 'ftp://x' } }] }).success).toBe(false);
    const issues = (auth: Record<string, unknown>) => {
      const parsed = configSchema.safeParse({ routes: [{ service: 'shop', auth: { url: 'http://auth.test', ...auth } }] });
      return parsed.success ? '' : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join();
    };
    expect(issues({ timeout: 0 })).toMatch(/routes\.0\.auth\.timeout/);
    expect(issues({ copyHeaders: ['x-user', 'Host'] })).toMatch(/routes\.0\.auth\.copyHeaders\.1/);
    expect(issues({ copyHeaders: ['connection'] })).toMatch(/copyHeaders/);
    expect(issues({ copyHeaders: ['x-user'], timeout: '250ms' })).toBe('');
  });
});
