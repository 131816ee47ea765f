/**
 * The raw engine's upstream request head (src/proxy/engines/raw-request-head.ts): what it writes,
 * how it frames the body, and that a value the attempt does not vouch for is checked.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { InvalidUpstreamRequest, requestHead } from '../../../src/proxy/engines/raw-request-head.js';
import type { AttemptOptions, ForwardEngine } from '../../../src/proxy/forwarder.js';
import { HttpExchange } from '../../../src/proxy/http-exchange.js';
import type { ProxyPolicyRequest } from '../../../src/proxy/policy-request.js';
import type { RequestRecord } from '../../../src/proxy/request-record.js';
import type { ServiceMetrics } from '../../../src/proxy/service-metrics.js';
import type { RequestPickContext } from '../../../src/routing/pick-context.js';
import type { RouteMatch } from '../../../src/routing/route.js';

function attempt(headers: IncomingHttpHeaders, extra: Partial<AttemptOptions> = {}): AttemptOptions {
  return {
    method: 'GET',
    path: '/orders?x=1',
    headers,
    body: undefined,
    streamBody: false,
    timeouts: { connect: 1000, header: 1000, idle: 1000 },
    signal: undefined,
    writeHead: () => undefined,
    ...extra,
  };
}

describe('requestHead', () => {
  it('writes the request line, Host first, every other field, and leaves framing to the engine', () => {
    const head = requestHead(
      attempt({ 'x-a': 'one', host: 'api.test', 'transfer-encoding': 'chunked', connection: 'close', 'set-cookie': ['a=1', 'b=2'] }),
      '10.0.0.1:80',
    );
    expect(head.framing).toBe('none');
    expect(head.text).toBe('GET /orders?x=1 HTTP/1.1\r\nhost: api.test\r\nx-a: one\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n\r\n');
  });

  it('stands the instance in for a missing Host and frames a buffered body by its length', () => {
    const head = requestHead(attempt({ 'content-length': '999' }, { method: 'POST', body: Buffer.from('abc') }), '10.0.0.1:80');
    expect(head).toEqual({ text: 'POST /orders?x=1 HTTP/1.1\r\nhost: 10.0.0.1:80\r\ncontent-length: 3\r\n\r\n', framing: 'length' });
  });

  it("keeps a streamed body's length, or chunks one without", () => {
    expect(requestHead(attempt({ 'content-length': '5' }, { method: 'PUT', streamBody: true }), 'h:1').framing).toBe('length');
    const chunked = requestHead(attempt({}, { method: 'PUT', streamBody: true }), 'h:1');
    expect(chunked.framing).toBe('chunked');
    expect(chunked.text).toContain('\r\ntransfer-encoding: chunked\r\n');
  });

  it.each(['\r', '\n', '\0'])('refuses a value with %j unless the attempt vouches for its values, naming the field', (bad) => {
    const headers = { host: 'api.test', 'x-edited': `a${bad}x-injected: 1` };
    expect(() => requestHead(attempt(headers), 'h:1')).toThrow(InvalidUpstreamRequest);
    expect(() => requestHead(attempt(headers, { headerValuesClean: false }), 'h:1')).toThrow('header x-edited has a CR, LF or NUL');
    // In a list (node:http's shape for a repeated field) too.
    expect(() => requestHead(attempt({ 'x-list': ['ok', `b${bad}`] }), 'h:1')).toThrow('header x-list has a CR, LF or NUL');
  });

  it('checks Host and the request target whatever the attempt says of its values', () => {
    expect(() => requestHead(attempt({ host: 'a\r\nb' }, { headerValuesClean: true }), 'h:1')).toThrow('header host has a CR, LF or NUL');
    for (const path of ['/a b', '/a\r\nx: 1', '/a\0', '/a\x7f']) {
      expect(() => requestHead(attempt({}, { path, headerValuesClean: true }), 'h:1')).toThrow('request target has a control character or space');
    }
  });
});

describe('HttpExchange.headerValuesClean (who vouches for the values requestHead skips)', () => {
  const match = { routeId: 'r', service: 's', upstreamPath: '/', retries: 0, timeouts: { connect: 1, header: 1, idle: 1 }, policy: undefined };
  const exchange = (httpVersionMajor: number, policyRequest: unknown): HttpExchange =>
    new HttpExchange(
      { closing: false, answered: () => {}, crashed: () => {} },
      {} as ForwardEngine,
      { method: 'GET', headers: {}, httpVersionMajor } as unknown as IncomingMessage,
      {} as ServerResponse,
      match as unknown as RouteMatch,
      {} as RequestPickContext,
      {} as ServiceMetrics,
      { trace: undefined, log: { requestId: 'id' } } as unknown as RequestRecord,
      undefined,
      false,
      undefined,
      policyRequest as ProxyPolicyRequest | undefined,
    );

  it('is true only for an HTTP/1 request no policy step has touched', () => {
    expect(exchange(1, undefined).headerValuesClean).toBe(true);
    // A route with request steps (header edits, forward-auth): they may write any value.
    expect(exchange(1, {}).headerValuesClean).toBe(false);
    // HTTP/2 clients: their values come from nghttp2, not llhttp.
    expect(exchange(2, undefined).headerValuesClean).toBe(false);
  });
});
