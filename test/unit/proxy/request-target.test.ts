import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { normalizeRequestTarget } from '../../../src/proxy/request-target.js';

/** A real IncomingMessage as node:http's parser fills it: raw header pairs, and `headers` keeping the first Host. */
function request(method: string, url: string, rawHeaders: string[]): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.method = method;
  req.url = url;
  req.rawHeaders = rawHeaders;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    req.headers[name] ??= rawHeaders[i + 1]!;
  }
  return req;
}

describe('normalizeRequestTarget', () => {
  it('leaves an origin-form request with one Host as it is', () => {
    const req = request('GET', '/cart?x=1', ['Host', 'shop.example']);
    expect(normalizeRequestTarget(req)).toBeUndefined();
    expect(req.url).toBe('/cart?x=1');
  });

  it.each([
    ['a path', 'http://shop.example/cart?x=1', 'shop.example', '/cart?x=1'],
    ['no path', 'http://shop.example', 'shop.example', '/'],
    ['only a query', 'http://shop.example?x=1', 'shop.example', '/?x=1'],
    ['an upper-case scheme and host', 'HTTP://SHOP.example/a', 'shop.EXAMPLE', '/a'],
    ['the default port in the URI only', 'http://shop.example:80/a', 'shop.example', '/a'],
    ['the default port in Host only', 'https://shop.example/a', 'shop.example:443', '/a'],
    ['an explicit port in both', 'http://127.0.0.1:8080/a', '127.0.0.1:8080', '/a'],
    ['an IPv6 authority', 'http://[::1]:8080/a', '[::1]:8080', '/a'],
  ])('rewrites absolute-form with %s to origin-form', (_name, url, host, path) => {
    const req = request('GET', url, ['Host', host]);
    expect(normalizeRequestTarget(req)).toBeUndefined();
    expect(req.url).toBe(path);
    expect(req.headers.host).toBe(host);
  });

  it('takes Host from the absolute URI when the client sent none (HTTP/1.0)', () => {
    const req = request('GET', 'http://shop.example:8080/a', []);
    expect(normalizeRequestTarget(req)).toBeUndefined();
    expect(req.url).toBe('/a');
    expect(req.headers.host).toBe('shop.example:8080');
  });

  it.each([
    ['two Host headers', 'GET', '/a', ['Host', 'a.example', 'Host', 'b.example']],
    ['two Host headers spelled differently', 'GET', '/a', ['host', 'a.example', 'HOST', 'a.example']],
    ['a Host other than the absolute URI authority', 'GET', 'http://a.example/x', ['Host', 'b.example']],
    ['a Host with another port than the absolute URI', 'GET', 'http://a.example:8080/x', ['Host', 'a.example']],
  ])('refuses %s as bad_host', (_name, method, url, raw) => {
    expect(normalizeRequestTarget(request(method, url, raw))).toBe('bad_host');
  });

  it.each([
    ['a relative path', 'GET', 'cart'],
    ['authority-form outside CONNECT', 'GET', 'shop.example:80'],
    ['asterisk-form outside OPTIONS', 'GET', '*'],
    ['a scheme other than http(s)', 'GET', 'ftp://shop.example/a'],
    ['user info in the authority', 'GET', 'http://user:pw@shop.example/a'],
    ['an empty authority', 'GET', 'http:///a'],
    ['a fragment', 'GET', 'http://shop.example#top'],
  ])('refuses %s as bad_request_target', (_name, method, url) => {
    expect(normalizeRequestTarget(request(method, url, ['Host', 'shop.example']))).toBe('bad_request_target');
  });

  it('lets OPTIONS * through to routing', () => {
    expect(normalizeRequestTarget(request('OPTIONS', '*', ['Host', 'shop.example']))).toBeUndefined();
  });
});
