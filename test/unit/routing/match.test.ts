import { describe, expect, it } from 'vitest';
import { matchesHeaders, matchesPathPrefix, normalizeHost, stripPathPrefix } from '../../../src/routing/match.js';
import { parseCookies, createPickContext } from '../../../src/routing/pick-context.js';

describe('host normalisation', () => {
  it.each([
    ['api.example.com', 'api.example.com'],
    ['API.Example.COM', 'api.example.com'],
    ['api.example.com:8080', 'api.example.com'],
    ['api.example.com.', 'api.example.com'],
    ['Api.Example.com.:443', 'api.example.com'],
    ['[::1]:8080', '[::1]'],
    ['[::1]', '[::1]'],
    ['', ''],
    ['api.example.coM', 'api.example.com'],
    [':8080', ''],
    ['.', ''],
    ['localhost', 'localhost'],
  ])('turns %j into %j', (input, expected) => {
    expect(normalizeHost(input)).toBe(expected);
  });
});

describe('path prefix on segment boundaries', () => {
  it.each([
    ['/orders', '/orders', true],
    ['/orders/1', '/orders', true],
    ['/orders?x=1', '/orders', true],
    ['/orders-old', '/orders', false],
    ['/order', '/orders', false],
    ['/anything', '/', true],
    ['/orders/1', '/orders/', true],
    ['/orders', '/orders/', false],
  ])('%s under %s is %s', (target, prefix, expected) => {
    expect(matchesPathPrefix(target, prefix)).toBe(expected);
  });

  it.each([
    ['/orders/1', '/orders', '/1'],
    ['/orders', '/orders', '/'],
    ['/orders?x=1', '/orders', '/?x=1'],
    ['/orders/1?x=1&y', '/orders', '/1?x=1&y'],
    ['/orders/1', '/orders/', '/1'],
    ['/orders/', '/orders', '/'],
    ['/a/b', '/', '/a/b'],
  ])('stripping %s by %s gives %s', (target, prefix, expected) => {
    expect(stripPathPrefix(target, prefix)).toBe(expected);
  });
});

describe('header match', () => {
  it('needs every condition to hold with the exact value', () => {
    const headers: Record<string, string> = { 'x-canary': '1', 'x-team': 'blue' };
    const header = (name: string) => headers[name];
    expect(matchesHeaders([['x-canary', '1']], header)).toBe(true);
    expect(matchesHeaders([['x-canary', '1'], ['x-team', 'blue']], header)).toBe(true);
    expect(matchesHeaders([['x-canary', '2']], header)).toBe(false);
    expect(matchesHeaders([['x-missing', '']], header)).toBe(false);
    expect(matchesHeaders([], header)).toBe(true);
  });
});

describe('pick context', () => {
  it('parses cookies once, keeps the first of duplicate names and unquotes values', () => {
    expect([...parseCookies('a=1; b="two"; a=3; bad; c=')]).toEqual([
      ['a', '1'],
      ['b', 'two'],
      ['c', ''],
    ]);
  });

  it('reads headers and cookies lazily and records tried endpoints', () => {
    const ctx = createPickContext({ headers: { cookie: 'session=abc', 'x-user': 'u1' } }, '192.0.2.9');
    expect(ctx.clientIp).toBe('192.0.2.9');
    expect(ctx.header('x-user')).toBe('u1');
    expect(ctx.cookie('session')).toBe('abc');
    expect(ctx.cookie('other')).toBeUndefined();
    expect(ctx.tried).toEqual([]);
  });
});
