import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.js';
import { buildRedirect, isPlainHost } from '../../../src/policy/redirect.js';
import { policyRequest, routeConfigError } from './edits-fixtures.js';

describe('redirect: https', () => {
  const step = buildRedirect('https');

  it('sends GET and HEAD with 301 and other methods with 308 (method and body kept)', () => {
    const get = policyRequest({ url: '/cart?id=7' });
    expect(step.run(get)).toBe(false);
    expect(get.answer).toEqual({
      status: 301,
      headers: { location: 'https://shop.example.com/cart?id=7', 'content-type': 'text/plain; charset=utf-8' },
      body: 'Redirecting to https://shop.example.com/cart?id=7\n',
    });
    const post = policyRequest({ method: 'POST', url: '/pay' });
    step.run(post);
    expect(post.answer?.status).toBe(308);
  });

  it('lets requests that came over TLS through', () => {
    const request = policyRequest({ scheme: 'https' });
    expect(step.run(request)).toBe(true);
    expect(request.answer).toBeUndefined();
  });

  it('refuses (400) a host that could point Location elsewhere', () => {
    for (const host of ['evil.com/x', 'a@evil.com', 'evil.com\\x', '', 'ex%2fample.com']) {
      const request = policyRequest({ host });
      expect(step.run(request)).toBe(false);
      expect(request.answer?.status).toBe(400);
    }
    expect(isPlainHost('shop.example.com')).toBe(true);
    expect(isPlainHost('[::1]')).toBe(true);
  });
});

describe('redirect: { to, status }', () => {
  it('renders the target from the request whatever its scheme', () => {
    const step = buildRedirect({ to: 'https://new.example.com/v2{path}?{query}&from={host}', status: 307 });
    const request = policyRequest({ scheme: 'https', url: '/a?b=1' });
    expect(step.run(request)).toBe(false);
    expect(request.answer?.status).toBe(307);
    expect(request.answer?.headers.location).toBe('https://new.example.com/v2/a?b=1&from=shop.example.com');
  });

  it.each([
    ['{uri}', 'an open redirect when the path starts with //'],
    ['//{host}/x', 'protocol-relative'],
    ['{host}/x', 'starting with a variable'],
  ])('refuses the target %s at config load (%s)', (to) => {
    expect(routeConfigError({ redirect: { to } })).toBe(
      `routes.0.redirect.to: expected an absolute http(s):// or {scheme}:// URL, or a path starting with a single "/", got "${to}"`,
    );
  });

  it('refuses a listener redirect on a TLS listener, naming the field', () => {
    const result = configSchema.safeParse({ listen: [{ address: '127.0.0.1:8443', tls: true, redirect: 'https' }] });
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]!.path).toEqual(['listen', 0, 'redirect']);
  });
});
