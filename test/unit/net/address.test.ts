/**
 * Host canonicalisation: every spelling of an address collapses to one string,
 * so CIDR and self-loop checks see the address a connect would reach. For IPv4
 * the system resolver (getaddrinfo, what a connect uses) is the oracle: each
 * numeric case must resolve to exactly the address canonicalIp gives.
 */
import dns from 'node:dns/promises';
import { describe, expect, it } from 'vitest';
import { canonicalHost, canonicalIp, resolveHost } from '../../../src/net/address.js';

const IPV4_SPELLINGS: [string, string, string][] = [
  ['dotted decimal is already canonical', '127.0.0.1', '127.0.0.1'],
  ['two parts: the last fills 24 bits', '127.1', '127.0.0.1'],
  ['three parts: the last fills 16 bits', '127.0.1', '127.0.0.1'],
  ['one decimal part is the whole 32-bit address', '2130706433', '127.0.0.1'],
  ['one hex part', '0x7f000001', '127.0.0.1'],
  ['hex first part, short form', '0x7f.1', '127.0.0.1'],
  ['upper-case hex prefix and digits', '0X7F.0X0.0X0.0X1', '127.0.0.1'],
  ['leading zero means octal', '0177.0.0.1', '127.0.0.1'],
  ['octal with many leading zeros', '00000000177.1', '127.0.0.1'],
  ['leading zeros change the value (octal 0127 = 87)', '00000000127.1', '87.0.0.1'],
  ['a lone 0 is the unspecified address', '0', '0.0.0.0'],
  ['padded hex', '0x0000007f.1', '127.0.0.1'],
  ['mixed bases per part', '0x7f.0.00.1', '127.0.0.1'],
  ['two-part form whose last part exceeds a byte', '127.256', '127.0.1.0'],
  ['largest 32-bit value', '4294967295', '255.255.255.255'],
];

const IPV6_SPELLINGS: [string, string, string][] = [
  ['compressed loopback', '::1', '::1'],
  ['expanded loopback', '0:0:0:0:0:0:0:1', '::1'],
  ['bracketed', '[::1]', '::1'],
  ['leading zeros and upper case', '0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
  ['IPv4-mapped, hex tail', '::ffff:7f00:1', '127.0.0.1'],
  ['IPv4-mapped, expanded', '0:0:0:0:0:ffff:7f00:1', '127.0.0.1'],
  ['IPv4-mapped, dotted tail', '::ffff:127.0.0.1', '127.0.0.1'],
  ['IPv4-mapped, bracketed, upper case', '[::FFFF:7F00:1]', '127.0.0.1'],
  ['unspecified, expanded', '0:0:0:0:0:0:0:0', '::'],
  ['zone id dropped', 'fe80::1%lo', 'fe80::1'],
  ['ordinary address, RFC 5952 form', '2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
];

const NAMES: [string, string][] = [
  ['a DNS name', 'db.internal'],
  ['localhost', 'localhost'],
  ['a Debian loopback alias', 'ip6-localhost'],
  ['five parts', '1.2.3.4.5'],
  ['a trailing dot (getaddrinfo does not read it as a number)', '127.0.0.1.'],
  ['an empty part', '127..1'],
  ['8 and 9 are not octal digits', '08.1'],
  ['0x without digits', '0x'],
  ['a part above 255 before the last', '256.1'],
  ['beyond 32 bits', '4294967296'],
  ['last of four parts above 255', '1.2.3.256'],
  ['trailing garbage', '127.0.0.1 x'],
];

describe('canonicalIp', () => {
  it.each(IPV4_SPELLINGS)('IPv4: %s (%s → %s), as getaddrinfo reads it', async (_name, spelling, expected) => {
    expect(canonicalIp(spelling)).toBe(expected);
    const resolved = await dns.lookup(spelling, { all: true });
    expect(resolved.map((r) => r.address)).toEqual([expected]);
  });

  it.each(IPV6_SPELLINGS)('IPv6: %s (%s → %s)', (_name, spelling, expected) => {
    expect(canonicalIp(spelling)).toBe(expected);
  });

  it.each(NAMES)('not a number: %s (%s)', (_name, spelling) => {
    expect(canonicalIp(spelling)).toBeUndefined();
  });
});

describe('canonicalHost (the stored spelling)', () => {
  it.each([
    ['2130706433', '127.0.0.1'],
    ['0X0A.1', '10.0.0.1'],
    ['[0:0:0:0:0:ffff:a00:5]', '10.0.0.5'],
    ['FE80::0001%eth0', 'fe80::1%eth0'],
    ['[fe80::1%eth0]', 'fe80::1%eth0'],
    ['Db.Internal', 'db.internal'],
  ])('stores %s as %s', (given, stored) => {
    expect(canonicalHost(given)).toBe(stored);
  });
});

describe('resolveHost', () => {
  it('gives a numeric host as its one canonical address, without a lookup', async () => {
    expect(await resolveHost('0x7f.1')).toEqual(['127.0.0.1']);
    expect(await resolveHost('::ffff:7f00:1')).toEqual(['127.0.0.1']);
  });

  it("resolves a name to every address the system resolver gives, canonical", async () => {
    const twoAddresses = async () => [{ address: '0:0:0:0:0:ffff:a00:5' }, { address: '2001:DB8::1' }, { address: '10.0.0.5' }];
    expect(await resolveHost('db.internal', 1_000, twoAddresses)).toEqual(['10.0.0.5', '2001:db8::1']);
    expect(await resolveHost('localhost')).toContain('127.0.0.1');
  });

  it('takes a localhost name the resolver does not know as loopback (RFC 6761)', async () => {
    expect(await resolveHost('app.localhost')).toEqual(['127.0.0.1', '::1']);
  });

  it('rejects a name that does not resolve', async () => {
    await expect(resolveHost('no-such-host.invalid')).rejects.toThrow();
  });

  it('rejects when the resolver does not answer in time', async () => {
    const never = () => new Promise<never>(() => {});
    await expect(resolveHost('slow.example', 50, never)).rejects.toThrow('no answer within 50 ms');
    // A localhost name is loopback even when the resolver is silent.
    expect(await resolveHost('app.localhost', 50, never)).toEqual(['127.0.0.1', '::1']);
  });
});
