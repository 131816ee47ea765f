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

  it('rejects unknown keys so typos do not pass silently', () => {
    const result = configSchema.safeParse({ admn: {} });
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]!.code).toBe('unrecognized_keys');
  });
});
