import { describe, expect, it } from 'vitest';
import { policyDefaultsSchema } from '../../../src/config/policy-schema.js';
import { Metrics } from '../../../src/metrics.js';
import { compilePolicy } from '../../../src/policy/chain.js';
import { CidrRanges, parseClientAddress } from '../../../src/policy/cidr-ranges.js';
import { RateLimits } from '../../../src/policy/rate-limits.js';
import { buildClientCidrs, ClientCidrsStep } from '../../../src/policy/client-cidrs.js';
import type { PolicyErrorCode, PolicyRequest } from '../../../src/policy/step.js';

function step(allow: string[], deny: string[] = []): ClientCidrsStep {
  return buildClientCidrs(policyDefaultsSchema.parse({ clientCidrs: { allow, deny } }).clientCidrs!)!;
}

function ranges(cidrs: string[]): (address: string) => boolean {
  const compiled = new CidrRanges(cidrs);
  return (address) => {
    const parsed = parseClientAddress(address);
    return parsed !== undefined && compiled.has(parsed);
  };
}

describe('client address spellings', () => {
  it('matches an IPv4 range in every spelling a client address can have', () => {
    const in10 = ranges(['10.0.0.0/8']);
    for (const spelling of [
      '10.0.0.1',
      '10.255.255.255',
      '::ffff:10.0.0.1',
      '::FFFF:10.0.0.1',
      '::ffff:a00:1',
      '0:0:0:0:0:ffff:a00:1',
      '[::ffff:10.0.0.1]',
      '10.0.0.1:5000',
      '[::ffff:10.0.0.1]:443',
      '012.0.0.1', // octal 012 = 10, as getaddrinfo reads it
      '10.1', // inet_aton shorthand: 10.0.0.1
    ]) {
      expect(in10(spelling), spelling).toBe(true);
    }
    for (const spelling of ['11.0.0.1', '9.255.255.255', '::ffff:b00:1', '::a00:1', '64:ff9b::a00:1', '2001:db8::1', '010.0.0.1']) {
      expect(in10(spelling), spelling).toBe(false);
    }
  });

  it('matches IPv6 ranges, with brackets, zone ids, ports and either case', () => {
    const inDoc = ranges(['2001:db8::/32', 'fe80::/10']);
    for (const spelling of ['2001:db8::1', '2001:DB8:0:0:0:0:0:1', '[2001:db8::1]', '[2001:db8::1]:8443', 'fe80::1%eth0', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff']) {
      expect(inDoc(spelling), spelling).toBe(true);
    }
    for (const spelling of ['2001:db9::1', '::1', '10.0.0.1', '2001:db7:ffff:ffff:ffff:ffff:ffff:ffff']) {
      expect(inDoc(spelling), spelling).toBe(false);
    }
  });

  it('IPv6 ranges over the IPv4-mapped block match IPv4 clients too', () => {
    expect(ranges(['::ffff:10.0.0.0/104'])('10.1.2.3')).toBe(true);
    expect(ranges(['::ffff:10.0.0.0/104'])('11.1.2.3')).toBe(false);
    expect(ranges(['::/0'])('192.0.2.1')).toBe(true);
    expect(ranges(['0.0.0.0/0'])('::1')).toBe(false);
  });

  it('reads nothing that is not an address', () => {
    for (const text of ['', 'unknown', '_hidden', '10.0.0.256', '10.0.0.1.5', 'fe80::1::2', '1.2.3.4:123456', 'example.com']) {
      expect(parseClientAddress(text), text).toBeUndefined();
    }
  });

  it('merges overlapping ranges and finds addresses at every edge', () => {
    const has = ranges(['10.0.0.0/24', '10.0.0.128/25', '10.0.1.0/24', '192.168.0.0/16', '1.2.3.4']);
    expect(has('10.0.0.0')).toBe(true);
    expect(has('10.0.1.255')).toBe(true);
    expect(has('10.0.2.0')).toBe(false);
    expect(has('1.2.3.4')).toBe(true);
    expect(has('1.2.3.5')).toBe(false);
    expect(has('192.168.255.255')).toBe(true);
    expect(has('192.169.0.0')).toBe(false);
  });
});

describe('clientCidrs step', () => {
  it('deny wins over allow; an empty allow list allows every address not denied', () => {
    const both = step(['10.0.0.0/8'], ['10.1.0.0/16']);
    expect(both.allows('10.0.0.1')).toBe(true);
    expect(both.allows('10.1.0.1')).toBe(false);
    expect(both.allows('::ffff:10.1.0.1')).toBe(false);
    expect(both.allows('192.0.2.1')).toBe(false);
    const denyOnly = step([], ['192.0.2.0/24']);
    expect(denyOnly.allows('198.51.100.1')).toBe(true);
    expect(denyOnly.allows('192.0.2.7')).toBe(false);
  });

  it('refuses an address it cannot read, whatever the lists say', () => {
    expect(step([], ['192.0.2.0/24']).allows('unknown')).toBe(false);
    expect(step(['0.0.0.0/0', '::/0']).allows('')).toBe(false);
  });

  it('answers 403 forbidden through the request, and builds nothing for two empty lists', () => {
    const codes: PolicyErrorCode[] = [];
    const request = { clientIp: '192.0.2.1', reject: (code: PolicyErrorCode) => codes.push(code) } as unknown as PolicyRequest;
    expect(step(['10.0.0.0/8']).run(request)).toBe(false);
    expect(codes).toEqual(['forbidden']);
    expect(buildClientCidrs({ allow: [], deny: [] })).toBeUndefined();
  });

  it('the config names the field of a bad range', () => {
    const result = policyDefaultsSchema.safeParse({ clientCidrs: { allow: ['10.0.0.0/33'] } });
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]!.path).toEqual(['clientCidrs', 'allow', 0]);
  });
});

describe('clientCidrs in the chain', () => {
  it('runs before rateLimit: a refused client spends no token and creates no bucket', () => {
    const rateLimits = new RateLimits();
    const config = policyDefaultsSchema.parse({ clientCidrs: { deny: ['192.0.2.0/24'] }, rateLimit: { rate: '1/s' } });
    const route = { routeId: 'r', service: 'api' };
    const policy = compilePolicy(config, route, { metrics: new Metrics({ processMetrics: false }), rateLimits })!;
    const codes: PolicyErrorCode[] = [];
    const from = (clientIp: string) => ({ clientIp, reject: (code: PolicyErrorCode) => codes.push(code) }) as unknown as PolicyRequest;
    expect(policy.admit(from('192.0.2.1'))).toBe(false);
    expect(rateLimits.keys(route)).toBe(0);
    expect(policy.admit(from('198.51.100.1'))).toBe(true);
    expect(policy.admit(from('198.51.100.1'))).toBe(false);
    expect(codes).toEqual(['forbidden', 'rate_limited']);
    expect(policy.response).toHaveLength(1);
  });
});
