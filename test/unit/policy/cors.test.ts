import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Cors, OriginMatcher, buildCors } from '../../../src/policy/cors.js';
import { policyRequest, routeConfig, routeConfigError } from './edits-fixtures.js';

const corsOf = (cors: Record<string, unknown>) => routeConfig({ cors }).cors!;

describe('OriginMatcher', () => {
  const matcher = new OriginMatcher(['https://app.example.com', 'https://*.example.com', 'http://localhost:3000']);

  it.each([
    ['https://app.example.com', true],
    ['https://a.b.example.com', true],
    ['http://localhost:3000', true],
    ['https://example.com', false],
    ['http://a.example.com', false],
    ['https://a.example.com.evil.com', false],
    ['https://evil.com/.example.com', false],
    ['https://evil.com:1@x.example.com', false],
    ['https://a.example.com:8443', false],
    ['http://localhost:30000', false],
    ['null', false],
  ])('%s → %s', (origin, allowed) => {
    expect(matcher.matches(origin)).toBe(allowed);
  });

  it('takes config text literally: no regex is built from it', () => {
    expect(routeConfigError({ cors: { origins: ['https://(a|b).example.com'] } })).toMatch(/^routes\.0\.cors\.origins\.0: expected \*, an origin like/);
  });
});

describe('preflight', () => {
  const { preflight } = buildCors(corsOf({ origins: ['https://app.example.com'], methods: ['GET', 'POST'], maxAge: '1h', credentials: true }));
  const ask = (origin: string, headers: Record<string, string> = {}) =>
    policyRequest({ method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', ...headers } });

  it('answers an allowed origin with the allow headers, echoing the requested headers when none are configured', () => {
    const request = ask('https://app.example.com', { 'access-control-request-headers': 'content-type, x-token' });
    expect(preflight.run(request)).toBe(false);
    expect(request.answer).toEqual({
      status: 204,
      body: undefined,
      headers: {
        vary: 'Origin',
        'access-control-allow-origin': 'https://app.example.com',
        'access-control-allow-methods': 'GET, POST',
        'access-control-allow-headers': 'content-type, x-token',
        'access-control-max-age': '3600',
        'access-control-allow-credentials': 'true',
      },
    });
  });

  it('answers another origin 204 without any allow header (the browser refuses)', () => {
    const request = ask('https://evil.example.net');
    expect(preflight.run(request)).toBe(false);
    expect(request.answer).toEqual({ status: 204, body: undefined, headers: { vary: 'Origin' } });
  });

  it('passes OPTIONS requests that are not preflights upstream', () => {
    expect(preflight.run(policyRequest({ method: 'OPTIONS', headers: { origin: 'https://app.example.com' } }))).toBe(true);
    expect(preflight.run(policyRequest({ method: 'GET', headers: { origin: 'https://app.example.com' } }))).toBe(true);
  });

  it('refuses credentials with origin * at config load', () => {
    expect(routeConfigError({ cors: { origins: ['*'], credentials: true } })).toBe(
      'routes.0.cors.origins: expected explicit origins with credentials: true, got "*"',
    );
  });
});

describe('actual responses', () => {
  it("replaces the upstream's CORS fields and adds the route's for a matching origin only", () => {
    const cors = new Cors(corsOf({ origins: ['https://app.example.com'], exposeHeaders: ['x-total'], credentials: true }));
    const head = ['Access-Control-Allow-Origin', '*', 'Vary', 'Accept-Encoding'];
    cors.editHead('https://app.example.com', head);
    expect(head).toEqual([
      'Vary',
      'Accept-Encoding, Origin',
      'access-control-allow-origin',
      'https://app.example.com',
      'access-control-allow-credentials',
      'true',
      'access-control-expose-headers',
      'x-total',
    ]);
    const other = ['Access-Control-Allow-Origin', '*'];
    cors.editHead('https://evil.example.net', other);
    expect(other).toEqual(['vary', 'Origin']);
  });

  it('answers * to every origin without Vary when origins is * without credentials', () => {
    const { response } = buildCors(corsOf({ origins: ['*'] }));
    const head: string[] = [];
    const sink = new PassThrough();
    expect(response.onHead(policyRequest({ headers: { origin: 'https://any.example' } }), 200, head, sink)).toBe(sink);
    expect(head).toEqual(['access-control-allow-origin', '*']);
  });
});
