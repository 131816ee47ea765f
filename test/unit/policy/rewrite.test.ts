import { describe, expect, it } from 'vitest';
import { PrefixRewrite, RegexRewrite, buildRewrite } from '../../../src/policy/rewrite.js';
import { policyRequest, routeConfigError } from './edits-fixtures.js';

describe('prefix rewrite', () => {
  it.each([
    ['/api/v1', '/v1', '/api/v1/users', '/v1/users'],
    ['/api/v1', '/v1', '/api/v1', '/v1'],
    ['/api/v1/', '/v1/', '/api/v1/', '/v1/'],
    ['/api/v1', '/v1', '/api/v10/users', undefined],
    ['/api', '/', '/api/users', '/users'],
    ['/api', '/', '/api', '/'],
    ['/', '/app', '/x/y', '/app/x/y'],
  ])('from %s to %s: %s becomes %s (segment boundaries only)', (from, to, path, expected) => {
    expect(new PrefixRewrite(from, to).rewrite(path)).toBe(expected);
  });

  it('keeps the query and leaves a path it does not match alone', () => {
    const step = buildRewrite({ prefix: { from: '/old', to: '/new' } });
    const moved = policyRequest({ url: '/old/a?x=/old/b' });
    expect(step.run(moved)).toBe(true);
    expect(moved.upstreamPath).toBe('/new/a?x=/old/b');
    const other = policyRequest({ url: '/older?x=1' });
    step.run(other);
    expect(other.upstreamPath).toBe('/older?x=1');
  });
});

describe('regex rewrite', () => {
  it('replaces the first match in the path, keeps the query, and keeps the path absolute', () => {
    const step = new RegexRewrite('^/users/(\\d+)/posts', '/posts/by-user/$1');
    const request = policyRequest({ url: '/users/42/posts?page=2' });
    step.run(request);
    expect(request.upstreamPath).toBe('/posts/by-user/42?page=2');
    expect(new RegexRewrite('^/(.*)$', '$1').rewrite('/a/b')).toBe('/a/b');
  });

  it('answers 414 for a path longer than it will match, instead of running the regex', () => {
    const step = new RegexRewrite('^/a', '/b');
    const request = policyRequest({ url: `/${'a'.repeat(9000)}` });
    expect(step.run(request)).toBe(false);
    expect(request.answer?.status).toBe(414);
    expect(request.answer?.headers['x-waypost-error']).toBe('uri_too_long');
  });

  it.each([
    [{ regex: '^/(a+)+$', replacement: '/x' }, 'rewrite.regex: expected a regular expression without nested quantifiers (it could backtrack catastrophically), got "^/(a+)+$"'],
    [{ regex: '^/(x+x+)+y', replacement: '/x' }, 'rewrite.regex: expected a regular expression without nested quantifiers (it could backtrack catastrophically), got "^/(x+x+)+y"'],
    [{ regex: '^/(', replacement: '/x' }, 'rewrite.regex: expected a valid regular expression (Invalid regular expression: /^/(/: Unterminated group), got "^/("'],
    [{ regex: '^/(a)', replacement: '/$2' }, "rewrite.replacement: expected references to the regex's 1 group(s), got $2"],
  ])('refuses %j at config load, naming the field', (rewrite, message) => {
    expect(routeConfigError({ rewrite })).toBe(`routes.0.${message}`);
  });
});
