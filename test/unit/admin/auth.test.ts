import { describe, expect, it } from 'vitest';
import { HostAllowList, TokenGuard } from '../../../src/admin/auth.js';
import { isWaypostError } from '../../../src/errors.js';

/** The error code a guard's check throws, or 'allowed'. */
function verdict(check: () => void): string {
  try {
    check();
    return 'allowed';
  } catch (err) {
    if (!isWaypostError(err)) throw err;
    return `${err.code}${err.field ? ` (${err.field})` : ''}: ${err.message}`;
  }
}

describe('TokenGuard', () => {
  const guard = new TokenGuard('s3cret');
  const cases: { name: string; authorization: string | undefined; expected: string }[] = [
    { name: 'accepts the token as a bearer credential', authorization: 'Bearer s3cret', expected: 'allowed' },
    { name: 'accepts the scheme in any case and trailing blanks', authorization: 'bearer \ts3cret  ', expected: 'allowed' },
    {
      name: 'refuses a call without an Authorization header, saying which header is needed',
      authorization: undefined,
      expected: 'unauthorized: this call needs an Authorization: Bearer <token> header (admin.token is set)',
    },
    {
      name: 'refuses another scheme as if the header were missing',
      authorization: 'Basic czNjcmV0',
      expected: 'unauthorized: this call needs an Authorization: Bearer <token> header (admin.token is set)',
    },
    {
      name: 'refuses a bearer credential with a space inside it',
      authorization: 'Bearer s3 cret',
      expected: 'unauthorized: this call needs an Authorization: Bearer <token> header (admin.token is set)',
    },
    { name: 'refuses a wrong token', authorization: 'Bearer s3cret2', expected: 'unauthorized: the bearer token does not match admin.token' },
    { name: 'refuses a prefix of the token', authorization: 'Bearer s3cre', expected: 'unauthorized: the bearer token does not match admin.token' },
    { name: 'compares the token case-sensitively', authorization: 'Bearer S3CRET', expected: 'unauthorized: the bearer token does not match admin.token' },
  ];
  it.each(cases)('$name', ({ authorization, expected }) => {
    expect(verdict(() => guard.check(authorization === undefined ? {} : { authorization }))).toBe(expected);
  });

  it('lets every call through when the token is empty', () => {
    const open = new TokenGuard('');
    expect(open.enabled).toBe(false);
    expect(verdict(() => open.check({}))).toBe('allowed');
    expect(guard.enabled).toBe(true);
  });
});

describe('HostAllowList', () => {
  const list = new HostAllowList(['10.0.0.0/8', '192.168.1.7/32', 'fd00::/8']);
  const cases: { name: string; host: string; expected: string }[] = [
    { name: 'allows an IPv4 host inside a range', host: '10.20.30.40', expected: 'allowed' },
    { name: 'allows the single host of a /32', host: '192.168.1.7', expected: 'allowed' },
    { name: 'allows an IPv6 host inside a range', host: 'fd00::1', expected: 'allowed' },
    { name: 'treats an IPv4-mapped IPv6 address as its IPv4 host', host: '::ffff:10.0.0.5', expected: 'allowed' },
    { name: 'refuses an IPv4 host outside every range', host: '192.168.1.8', expected: 'forbidden (host): host "192.168.1.8" is outside admin.allowedCidrs' },
    { name: 'refuses an IPv4-mapped address of a host outside the ranges', host: '::ffff:11.0.0.1', expected: 'forbidden (host): host "::ffff:11.0.0.1" is outside admin.allowedCidrs' },
    { name: 'refuses an IPv6 host outside every range', host: '2001:db8::1', expected: 'forbidden (host): host "2001:db8::1" is outside admin.allowedCidrs' },
    {
      name: 'refuses a DNS name, which cannot be checked against ranges',
      host: 'app.internal',
      expected: 'forbidden (host): host "app.internal" is a DNS name; only IP addresses can be checked against admin.allowedCidrs',
    },
  ];
  it.each(cases)('$name', ({ host, expected }) => {
    expect(verdict(() => list.check(host))).toBe(expected);
  });

  it('allows every host, DNS names too, when no range is configured', () => {
    const open = new HostAllowList([]);
    expect(open.enabled).toBe(false);
    expect(verdict(() => open.check('anything.example'))).toBe('allowed');
    expect(list.enabled).toBe(true);
  });

  it('refuses a range that is not CIDR as a config error naming admin.allowedCidrs', () => {
    expect(verdict(() => new HostAllowList(['10.0.0.0/33']))).toBe('config (admin.allowedCidrs): admin.allowedCidrs: not a CIDR range: "10.0.0.0/33"');
  });
});
