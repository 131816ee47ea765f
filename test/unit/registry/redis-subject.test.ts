/** registry_unavailable names the Redis target in the operator's words, never ioredis's. */
import { describe, expect, it } from 'vitest';
import { parseRedisTopology, registryUnavailable, type RedisConfig } from '../../../src/registry/redis-connection.js';

const base: RedisConfig = { url: '', sentinels: [], name: '', cluster: [], password: '' };
const offline = Object.assign(new Error("Stream isn't writeable and enableOfflineQueue options is false"), { name: 'Error' });

describe('registryUnavailable', () => {
  it.each([
    ['a plain URL', { url: 'redis://:secret@10.0.0.5:6380/0' }, 'Redis at 10.0.0.5:6380 is unreachable'],
    ['a URL without a port', { url: 'rediss://cache.internal' }, 'Redis at cache.internal:6379 is unreachable'],
    ['an IPv6 URL', { url: 'redis://[::1]:7000' }, 'Redis at [::1]:7000 is unreachable'],
    ['Sentinel', { sentinels: ['10.0.0.1:26379', '10.0.0.2:26379'], name: 'main' }, 'Redis master "main" via Sentinel 10.0.0.1:26379,10.0.0.2:26379 is unreachable'],
    ['a Sentinel URL', { url: 'redis+sentinel://10.0.0.1:26379/main' }, 'Redis master "main" via Sentinel 10.0.0.1:26379 is unreachable'],
    ['Cluster', { cluster: ['10.0.0.1:7000', '10.0.0.2:7000'] }, 'Redis Cluster at 10.0.0.1:7000,10.0.0.2:7000 is unreachable'],
  ])('names %s without credentials or ioredis internals', (_name, config, message) => {
    const err = registryUnavailable(parseRedisTopology({ ...base, ...config }), offline);
    expect(err.code).toBe('registry_unavailable');
    expect(err.status).toBe(503);
    expect(err.message).toBe(message);
    expect(err.cause).toBe(offline);
  });

  it("quotes Redis's own refusal", () => {
    const reply = Object.assign(new Error('NOREPLICAS Not enough good replicas to write.'), { name: 'ReplyError' });
    expect(registryUnavailable(parseRedisTopology({ ...base, url: 'redis://10.0.0.5:6379' }), reply).message).toBe(
      'Redis at 10.0.0.5:6379 refused the command: NOREPLICAS Not enough good replicas to write.',
    );
  });
});
