import { describe, expect, it } from 'vitest';
import { RouteTable, type RouteHandler } from '../../../src/compat/route-table.js';

/** Handlers that answer with their own name, so a match says which route won. */
const named = (name: string): RouteHandler<string[]> => (calls) => void calls.push(name);

const table = new RouteTable<string[]>({
  'apps/delta': { GET: named('delta') },
  'apps/:app': { GET: named('get app'), POST: named('register') },
  'apps/:app/:instance': { GET: named('get instance'), DELETE: named('deregister') },
  'status/leader': { GET: named('leader') },
});

function answer(method: string, path: string): { name?: string; params?: readonly string[]; kind: string; allow?: readonly string[] } {
  const match = table.match(method, path.split('/'));
  if (match.kind !== 'found') return match;
  const calls: string[] = [];
  void match.handler(calls, match.params);
  return { kind: match.kind, name: calls[0], params: match.params };
}

describe('a compat route table', () => {
  it.each<[string, string, string, string, readonly string[]]>([
    ['a literal path', 'GET', 'status/leader', 'leader', []],
    ['a literal declared before a pattern wins over it', 'GET', 'apps/delta', 'delta', []],
    ['a pattern hands its segments over in order', 'DELETE', 'apps/ORDERS/host-a', 'deregister', ['ORDERS', 'host-a']],
    ['another method of the same pattern', 'POST', 'apps/ORDERS', 'register', ['ORDERS']],
    ['HEAD is answered as GET', 'HEAD', 'apps/ORDERS', 'get app', ['ORDERS']],
  ])('finds %s', (_name, method, path, expected, params) => {
    expect(answer(method, path)).toEqual({ kind: 'found', name: expected, params });
  });

  it.each<[string, string, string]>([
    ['a path of a length no route has', 'GET', 'apps/a/b/c/d'],
    ['a literal segment that differs', 'GET', 'status/followers'],
    ['an unknown root', 'GET', 'nodes/a'],
  ])('does not find %s', (_name, method, path) => {
    expect(answer(method, path)).toEqual({ kind: 'not-found' });
  });

  it('refuses a method the path does not take and says which it takes', () => {
    expect(answer('PUT', 'apps/ORDERS')).toEqual({ kind: 'method-not-allowed', allow: ['GET', 'POST'] });
  });

  it('does not take a method named like an Object.prototype member for a route', () => {
    expect(answer('constructor', 'apps/ORDERS')).toMatchObject({ kind: 'method-not-allowed' });
  });

  it('owns the first segments of its patterns only', () => {
    expect(table.owns('apps')).toBe(true);
    expect(table.owns('status')).toBe(true);
    expect(table.owns('services')).toBe(false);
    expect(table.owns(undefined)).toBe(false);
  });

  it('refuses a pattern that starts with a parameter', () => {
    expect(() => new RouteTable({ ':app/x': {} })).toThrow(/must start with a literal segment/);
  });
});
