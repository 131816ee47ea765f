import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV_FIELDS } from '../../src/config/env.js';
import { loadConfig } from '../../src/config/load.js';
import { WaypostError } from '../../src/errors.js';
import { tempDir } from '../helpers/temp-dir.js';

const dir = tempDir('config');
function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}
function failure(fn: () => unknown): WaypostError {
  try {
    fn();
  } catch (err) {
    if (err instanceof WaypostError) return err;
    throw err;
  }
  throw new Error('expected a config error');
}

describe('loadConfig', () => {
  it('takes flag over environment over file over default', () => {
    const f = file('order.yaml', 'logLevel: debug\nzone: file-zone\nretries: 1\nadmin: { token: from-file }\n');
    const config = loadConfig({
      file: f,
      env: { WAYPOST_ZONE: 'env-zone', WAYPOST_RETRIES: '3' },
      flags: [{ path: ['retries'], value: 4, flag: '--retries' }],
    });
    expect(config.logLevel).toBe('debug');
    expect(config.zone).toBe('env-zone');
    expect(config.retries).toBe(4);
    expect(config.admin.token).toBe('from-file');
    expect(config.timeouts.connect).toBe(2000);
  });

  it('maps nested camelCase fields to upper snake case variables', () => {
    const config = loadConfig({
      env: { WAYPOST_ADMIN_TOKEN: 's3cret', WAYPOST_ADMIN_MAX_BODY_BYTES: '1024', WAYPOST_DOMAINS: 'a.test, b.test' },
    });
    expect(config.admin.token).toBe('s3cret');
    expect(config.admin.maxBodyBytes).toBe(1024);
    expect(config.domains).toEqual(['a.test', 'b.test']);
    expect(ENV_FIELDS.map((f) => f.variable)).toContain('WAYPOST_REDIS_URL');
  });

  it('selects the Redis store when a Redis URL is given', () => {
    expect(loadConfig({ env: { WAYPOST_REDIS_URL: 'redis://127.0.0.1:6379' } }).registry.store).toBe('redis');
    expect(loadConfig({}).registry.store).toBe('memory');
  });

  it('returns a deeply frozen object', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config.admin)).toBe(true);
    expect(Object.isFrozen(config.listen[0]!.address)).toBe(true);
  });

  it.each([
    ['a bad duration in the file', { file: 'timeouts:\n  connect: soon\n' }, 'timeouts.connect', 'timeouts.connect: expected a duration like 500ms, 5s or 2m, got "soon"'],
    ['an unknown top-level key', { file: 'lisen: 1.2.3.4:80\n' }, 'config', 'config: unknown field(s) "lisen"'],
    ['a bad number in the environment', { env: { WAYPOST_RETRIES: 'many' } }, 'retries', 'retries: expected a number in WAYPOST_RETRIES, got "many"'],
    ['a bad listen flag', { flags: [{ path: ['admin', 'listen'], value: 'nowhere', flag: '--admin' }] }, 'admin.listen', 'admin.listen: expected HOST:PORT (e.g. 127.0.0.1:8080), got "nowhere" (from flag --admin)'],
    ['redis store without an address', { file: 'registry: { store: redis }\n' }, 'registry.store', 'registry.store: store "redis" needs redis.url, redis.sentinels or redis.cluster'],
    ['invalid YAML', { file: 'a: [1,\n' }, 'config', undefined],
  ])('rejects %s with a message naming the field', (_name, input, field, message) => {
    const options = 'file' in input ? { file: file(`${field}.yaml`, input.file as string) } : input;
    const err = failure(() => loadConfig(options as Parameters<typeof loadConfig>[0]));
    expect(err.code).toBe('config');
    expect(err.field).toBe(field);
    if (message) expect(err.message.startsWith(message)).toBe(true);
  });
});
