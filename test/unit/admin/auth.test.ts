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
  // `addresses` is what resolveHost answers: the canonical address(es) a host reaches.
  const cases: { name: string; host: string; addresses: string[]; expected: string }[] = [
    { name: 'allows an IPv4 host inside a range', host: '10.20.30.40', addresses: ['10.20.30.40'], expected: 'allowed' },
    { name: 'allows the single host of a /32', host: '192.168.1.7', addresses: ['192.168.1.7'], expected: 'allowed' },
    { name: 'allows an IPv6 host inside a range', host: 'fd00::1', addresses: ['fd00::1'], expected: 'allowed' },
    { name: 'treats an IPv4-mapped IPv6 address as its IPv4 host', host: '::ffff:10.0.0.5', addresses: ['10.0.0.5'], expected: 'allowed' },
    { name: 'refuses an IPv4 host outside every range', host: '192.168.1.8', addresses: ['192.168.1.8'], expected: 'forbidden (host): host "192.168.1.8" is outside admin.allowedCidrs' },
    {
      name: 'refuses an IPv4-mapped address of a host outside the ranges, naming the address it reaches',
      host: '::ffff:11.0.0.1',
      addresses: ['11.0.0.1'],
      expected: 'forbidden (host): host "::ffff:11.0.0.1" resolves to 11.0.0.1, outside admin.allowedCidrs',
    },
    { name: 'refuses an IPv6 host outside every range', host: '2001:db8::1', addresses: ['2001:db8::1'], expected: 'forbidden (host): host "2001:db8::1" is outside admin.allowedCidrs' },
    { name: 'allows a DNS name whose every address is inside', host: 'app.internal', addresses: ['10.0.0.1', '10.0.0.2'], expected: 'allowed' },
    {
      name: 'refuses a DNS name with one address outside the ranges',
      host: 'app.internal',
      addresses: ['10.0.0.1', '8.8.8.8'],
      expected: 'forbidden (host): host "app.internal" resolves to 8.8.8.8, outside admin.allowedCidrs',
    },
    {
      name: 'refuses a DNS name that does not resolve',
      host: 'app.internal',
      addresses: [],
      expected: 'forbidden (host): host "app.internal" does not resolve (no address); a name is checked against admin.allowedCidrs by its addresses',
    },
  ];
  it.each(cases)('$name', ({ host, addresses, expected }) => {
    expect(verdict(() => list.check(host, addresses))).toBe(expected);
  });

  it('allows every host, DNS names too, when no range is configured', () => {
    const open = new HostAllowList([]);
    expect(open.enabled).toBe(false);
    expect(verdict(() => open.check('anything.example', []))).toBe('allowed');
    expect(list.enabled).toBe(true);
  });

  it('refuses a range that is not CIDR as a config error naming admin.allowedCidrs', () => {
    expect(verdict(() => new HostAllowList(['10.0.0.0/33']))).toBe('config (admin.allowedCidrs): admin.allowedCidrs: not a CIDR range: "10.0.0.0/33"');
  });
});
