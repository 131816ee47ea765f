import { describe, expect, it } from 'vitest';
import { isWaypostError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log.js';
import { DEFAULT_REGISTRY_URL, parseAppAddress, parseDurationFlag, parseIntegerFlag, targetFromFlags } from '../../../src/sidecar/flags.js';

/** The value, or the one line a bad flag exits 2 with. */
function outcome<T>(parse: () => T): T | string {
  try {
    return parse();
  } catch (err) {
    if (!isWaypostError(err, 'config')) throw err;
    return err.message;
  }
}

describe('parseAppAddress', () => {
  it.each([
    { name: 'reads an IPv4 address and port', text: '10.0.0.5:8080', expected: { host: '10.0.0.5', port: 8080 } },
    { name: 'reads a DNS name and port', text: 'app.internal:80', expected: { host: 'app.internal', port: 80 } },
    { name: 'reads a bracketed IPv6 address', text: '[fd00::5]:8080', expected: { host: 'fd00::5', port: 8080 } },
    { name: 'requires the flag', text: undefined, expected: '--address: is required (HOST:PORT of the app, e.g. 10.0.0.5:8080)' },
    { name: 'refuses a value without a port', text: '10.0.0.5', expected: '--address: expected HOST:PORT (e.g. 127.0.0.1:8080), got "10.0.0.5"' },
    { name: 'refuses port 0', text: '10.0.0.5:0', expected: '--address: port must be 1-65535, got 0' },
    { name: 'refuses a port above 65535', text: '10.0.0.5:70000', expected: '--address: port must be 0-65535, got 70000' },
    {
      name: 'refuses the unspecified IPv4 address, which no proxy can reach',
      text: '0.0.0.0:8080',
      expected: '--address: "0.0.0.0:8080" is not an address a proxy can reach; give the app\'s IP or DNS name',
    },
    {
      name: 'refuses a bare port, which means every interface',
      text: ':8080',
      expected: '--address: ":8080" is not an address a proxy can reach; give the app\'s IP or DNS name',
    },
    {
      name: 'refuses the unspecified IPv6 address',
      text: '[::]:8080',
      expected: '--address: "[::]:8080" is not an address a proxy can reach; give the app\'s IP or DNS name',
    },
  ])('$name', ({ text, expected }) => {
    expect(outcome(() => parseAppAddress(text))).toEqual(expected);
  });

  it('names the flag it was given in its errors', () => {
    expect(outcome(() => parseAppAddress(undefined, '--check-address'))).toMatch(/^--check-address: is required/);
  });
});

describe('parseIntegerFlag', () => {
  it.each([
    { name: 'is undefined when the flag is absent', text: undefined, expected: undefined },
    { name: 'reads an integer inside the range', text: '30', expected: 30 },
    { name: 'accepts both ends of the range', text: '1', expected: 1 },
    { name: 'refuses a value below the range', text: '0', expected: '--ttl: must be an integer from 1 to 3600, got "0"' },
    { name: 'refuses a value above the range', text: '3601', expected: '--ttl: must be an integer from 1 to 3600, got "3601"' },
    { name: 'refuses a fraction', text: '1.5', expected: '--ttl: must be an integer from 1 to 3600, got "1.5"' },
    { name: 'refuses a negative number', text: '-5', expected: '--ttl: must be an integer from 1 to 3600, got "-5"' },
    { name: 'refuses words', text: 'ten', expected: '--ttl: must be an integer from 1 to 3600, got "ten"' },
  ])('$name', ({ text, expected }) => {
    expect(outcome(() => parseIntegerFlag(text, '--ttl', 1, 3600))).toEqual(expected);
  });
});

describe('parseDurationFlag', () => {
  it.each([
    { name: 'falls back when the flag is absent', text: undefined, expected: 5000 },
    { name: 'reads milliseconds', text: '500ms', expected: 500 },
    { name: 'reads minutes', text: '2m', expected: 120_000 },
    { name: 'reads a plain number as seconds, as config durations do', text: '10', expected: 10_000 },
    { name: 'refuses a unit it does not know', text: '10d', expected: '--interval: must be a duration like 500ms, 5s or 2m, got "10d"' },
    { name: 'refuses a duration below the minimum', text: '50ms', expected: '--interval: must be at least 100 ms, got "50ms"' },
    { name: 'refuses a duration longer than a Node.js timer takes', text: '600h', expected: '--interval: must be at most 596h (the longest timer Node.js sets), got "600h"' },
  ])('$name', ({ text, expected }) => {
    expect(outcome(() => parseDurationFlag(text, '--interval', 5000, 100))).toEqual(expected);
  });
});

describe('targetFromFlags', () => {
  const describeTarget = (flags: Parameters<typeof targetFromFlags>[0]): string =>
    outcome(() => {
      const { target, describe } = targetFromFlags(flags, silentLogger);
      void target.close();
      return describe;
    });

  it.each([
    { name: 'uses the admin API on its default address without flags', flags: {}, expected: DEFAULT_REGISTRY_URL },
    { name: 'uses the admin API given by --registry', flags: { registry: 'https://reg.example:9901' }, expected: 'https://reg.example:9901' },
    { name: 'refuses --registry and --redis together', flags: { registry: 'http://a', redis: 'redis://b' }, expected: '--redis: give either --registry URL or --redis URL, not both' },
    { name: 'refuses --token with --redis, where it means nothing', flags: { redis: 'redis://127.0.0.1:1', token: 't' }, expected: '--token: only applies with --registry (the admin API)' },
    { name: 'refuses a --registry that is not a URL', flags: { registry: 'reg:9901:x' }, expected: '--registry: must be an http(s) URL of the admin API, got "reg:9901:x"' },
    { name: 'refuses a --registry of another protocol', flags: { registry: 'ftp://reg' }, expected: '--registry: must be an http(s) URL of the admin API, got "ftp://reg"' },
  ])('$name', ({ flags, expected }) => {
    expect(describeTarget(flags)).toBe(expected);
  });
});
