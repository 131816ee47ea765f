import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';

describe('config schema', () => {
  it('fills every default from an empty document', () => {
    const config = configSchema.parse({});
    expect(config.listen).toEqual([{ address: { host: '0.0.0.0', port: 8080 }, tls: false, protocols: ['http1', 'h2c', 'h2'] }]);
    expect(config.limits.http2).toEqual({ maxConcurrentStreams: 100, initialWindowSize: 1024 * 1024, maxResetsPerSecond: 200 });
    expect(config.admin.listen).toEqual({ host: '127.0.0.1', port: 9901 });
    expect(config.timeouts).toEqual({ connect: 2000, header: 30_000, idle: 60_000, grace: 30_000 });
    expect(config.registry.store).toBe('memory');
  });

  it('names the field and quotes the value of a bad duration', () => {
    const result = configSchema.safeParse({ timeouts: { connect: 'soon' } });
    expect(result.success).toBe(false);
    const issue = result.error!.issues[0]!;
    expect(issue.path.join('.')).toBe('timeouts.connect');
    expect(issue.message).toBe('expected a duration like 500ms, 5s or 2m, got "soon"');
  });

  it('refuses a duration longer than a Node.js timer takes, in every spelling, and takes the longest one', () => {
    // Past 2^31 − 1 ms Node fires a timer after 1 ms: a header timeout would end every request at once.
    for (const value of ['597h', '2147483648ms', '35792m', 2147484, '2147483.648']) {
      const result = configSchema.safeParse({ timeouts: { header: value } });
      expect(result.success, String(value)).toBe(false);
      expect(result.error!.issues[0]!.path.join('.')).toBe('timeouts.header');
      expect(result.error!.issues[0]!.message).toBe(`expected a duration of at most 596h (the longest timer Node.js sets), got "${value}"`);
    }
    expect(configSchema.parse({ timeouts: { header: '2147483647ms' } }).timeouts.header).toBe(2 ** 31 - 1);
    expect(configSchema.parse({ timeouts: { header: '596h' } }).timeouts.header).toBe(596 * 3_600_000);
  });

  it('keeps a duration above 0 above 0 in every spelling (0 would mean no limit)', () => {
    for (const value of ['0.4ms', '0.0001s', '0.00001m', '0.0000001h', 0.0001, '0.0001']) {
      expect(configSchema.parse({ timeouts: { header: value } }).timeouts.header, String(value)).toBe(1);
    }
    for (const value of ['0ms', '0s', 0, '0', '0.0']) {
      expect(configSchema.parse({ timeouts: { header: value } }).timeouts.header, String(value)).toBe(0);
    }
  });

  it('rejects unknown keys so typos do not pass silently', () => {
    const result = configSchema.safeParse({ admn: {} });
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]!.code).toBe('unrecognized_keys');
  });
});
