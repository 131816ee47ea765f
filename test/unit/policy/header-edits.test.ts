import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildRequestHeaderEdits, buildResponseHeaderEdits } from '../../../src/policy/header-edits.js';
import { policyRequest, routeConfig, routeConfigError } from './edits-fixtures.js';

const requestEdits = (edits: Record<string, unknown>) => buildRequestHeaderEdits(routeConfig({ requestHeaders: edits }).requestHeaders!);
const responseEdits = (edits: Record<string, unknown>) => buildResponseHeaderEdits(routeConfig({ responseHeaders: edits }).responseHeaders!);

describe('request header edits', () => {
  it('removes, then sets, then adds, with variables rendered from the request', () => {
    const { beforePick, perAttempt } = requestEdits({
      remove: ['x-debug', 'x-env'],
      set: { 'x-env': 'prod', 'x-client': '{client_ip}' },
      add: { 'x-tag': ['a', '{service}'], forwarded: 'for={client_ip}' },
    });
    expect(perAttempt).toBeUndefined();
    const request = policyRequest({ headers: { 'x-debug': '1', 'x-env': 'dev', 'x-tag': 'client', accept: '*/*' } });
    expect(beforePick.run(request)).toBe(true);
    expect(request.req.headers).toEqual({
      accept: '*/*',
      'x-env': 'prod',
      'x-client': '203.0.113.7',
      'x-tag': ['client', 'a', 'orders'],
      forwarded: 'for=203.0.113.7',
    });
  });

  it('sets a value using {instance} before each attempt, following the instance', () => {
    const { beforePick, perAttempt } = requestEdits({ set: { 'x-upstream': '{instance}', 'x-static': 'yes' } });
    const request = policyRequest();
    beforePick.run(request);
    expect(request.req.headers).toEqual({ 'x-static': 'yes' });
    request.instance = '10.0.0.1:80';
    perAttempt!.run(request);
    request.instance = '10.0.0.2:80';
    perAttempt!.run(request);
    expect(request.req.headers['x-upstream']).toBe('10.0.0.2:80');
  });

  it("keeps a client's Connection header from naming a set field away (hop-by-hop abuse)", () => {
    const { beforePick } = requestEdits({ set: { 'x-verified': 'no' } });
    const request = policyRequest({ headers: { connection: 'keep-alive, X-Verified, x-other' } });
    beforePick.run(request);
    expect(request.req.headers.connection).toBe('keep-alive, x-other');
    expect(request.req.headers['x-verified']).toBe('no');
  });

  it.each([
    [{ set: { 'content-length': '0' } }, 'requestHeaders.set.content-length: expected a header the proxy does not own, got "content-length" (message framing)'],
    [{ add: { 'transfer-encoding': 'chunked' } }, 'requestHeaders.add.transfer-encoding: expected a header the proxy does not own, got "transfer-encoding" (a hop-by-hop header)'],
    [{ set: { 'X-Forwarded-For': '1.2.3.4' } }, 'requestHeaders.set.x-forwarded-for: expected a header the proxy does not own, got "x-forwarded-for" (set by the proxy itself)'],
    [{ remove: ['host'] }, 'requestHeaders.remove.0: expected a header the proxy does not own, got "host" (the authority the request was routed by)'],
    [{ add: { 'x-up': '{instance}' } }, 'requestHeaders.add.x-up: must not use {instance} (it changes between attempts: use set), got "{instance}"'],
    [{ set: { 'x-a': 'a\r\nx-b: b' } }, 'requestHeaders.set.x-a: expected a header value without control characters, got "a\\r\\nx-b: b"'],
  ])('refuses %j at config load, naming the field', (edits, message) => {
    expect(routeConfigError({ requestHeaders: edits })).toBe(`routes.0.${message}`);
  });
});

describe('response header edits', () => {
  it('edits the head whatever case the upstream used, {instance} included', () => {
    const edits = responseEdits({ remove: ['server'], set: { 'x-frame-options': 'DENY' }, add: { 'x-served-by': '{instance}' } });
    const head = ['Server', 'nginx', 'X-Frame-Options', 'SAMEORIGIN', 'Content-Type', 'text/plain', 'x-frame-options', 'ALLOW'];
    const request = policyRequest({ instance: '10.0.0.1:80' });
    const sink = new PassThrough();
    expect(edits.onHead(request, 200, head, sink)).toBe(sink);
    expect(head).toEqual(['Content-Type', 'text/plain', 'x-frame-options', 'DENY', 'x-served-by', '10.0.0.1:80']);
  });

  it('refuses framing and encoding fields at config load', () => {
    expect(routeConfigError({ responseHeaders: { remove: ['content-length'] } })).toMatch(/^routes\.0\.responseHeaders\.remove\.0: expected a header the proxy does not own/);
    expect(routeConfigError({ responseHeaders: { set: { 'content-encoding': 'gzip' } } })).toMatch(/content-encoding" \(the body encoding \(see compress\)\)$/);
  });
});
