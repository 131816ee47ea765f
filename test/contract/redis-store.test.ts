import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { isWaypostError, WaypostError } from '../../src/errors.js';
import type { StoreOptions } from '../../src/registry/lease.js';
import { parseRedisTopology } from '../../src/registry/redis-connection.js';
import { RedisStore, type RedisStoreOptions } from '../../src/registry/redis-store.js';
import { RedisServer, redisStoreOptions } from '../helpers/redis-server.js';
import { deadPort } from '../helpers/ports.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { FeedRecorder, storeContract } from './store.contract.js';

let server: RedisServer;

beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await server?.stop();
});

const redisOptions = (url: string, extra: Partial<RedisStoreOptions['redis']> = {}) => redisStoreOptions({ url, ...extra });

storeContract('redis', async (options?: StoreOptions) => {
  const store = new RedisStore({ sweepIntervalMs: 200, ...options, redis: redisOptions(server.url) });
  await store.start();
  return { store, cleanup: () => store.close() };
});

describe('redis store', () => {
  const stores: RedisStore[] = [];
  const recorders: FeedRecorder[] = [];
  const open = async (options: Partial<RedisStoreOptions> & { redis: RedisStoreOptions['redis'] }): Promise<RedisStore> => {
    const store = new RedisStore(options);
    stores.push(store);
    await store.start();
    return store;
  };
  const record = (store: RedisStore, from = 0): FeedRecorder => {
    const recorder = new FeedRecorder(store, from);
    recorders.push(recorder);
    return recorder;
  };
  afterEach(async () => {
    vi.useRealTimers();
    for (const recorder of recorders.splice(0)) recorder.subscription.close();
    for (const store of stores.splice(0)) await store.close();
  });

  it('emits exactly one expire per instance when two stores sweep the same registry at once', async () => {
    const redis = redisOptions(server.url);
    const a = await open({ redis, sweepIntervalMs: 20, selfPreservation: 0 });
    await open({ redis, sweepIntervalMs: 20, selfPreservation: 0 });
    for (const id of ['x-1', 'x-2', 'x-3', 'x-4']) await a.register({ service: 'x', id, host: '10.0.0.1', port: 80, ttl: 1 });
    const feed = record(a, 4);
    await feed.waitForCount(4, 5000);
    await sleep(300);
    expect(feed.summary().sort()).toEqual(['expire x/x-1', 'expire x/x-2', 'expire x/x-3', 'expire x/x-4']);
    expect(feed.events.map((e) => e.revision)).toEqual([5, 6, 7, 8]);
  });

  it('resets a subscriber whose start revision was trimmed from the feed', async () => {
    const store = await open({ redis: redisOptions(server.url, { feedLength: 10 }) });
    for (let i = 0; i < 250; i += 1) await store.register({ service: 'trim', id: `i-${i % 5}`, host: '10.0.0.1', port: 1 + i });
    const stale = record(store, 1);
    await waitFor('a trimmed reset', () => stale.resets.length > 0);
    expect(stale.resets).toEqual(['trimmed']);
    expect(stale.events).toEqual([]);
    const { revision } = await store.state();
    expect(revision).toBe(250);
    stale.subscription.resume(revision);
    await store.deregister('trim', 'i-0');
    await stale.waitForCount(1);
    expect(stale.events[0]).toMatchObject({ revision: 251, type: 'deregister', id: 'i-0' });
  });

  it('judges leases on the Redis clock, whatever the process clock says', async () => {
    const store = await open({ redis: redisOptions(server.url) });
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2001-01-01T00:00:00Z'));
    const { record: stored } = await store.register({ service: 'clock', id: 'c-1', host: '10.0.0.1', port: 80, ttl: 5 });
    vi.useRealTimers();
    expect(Math.abs(Date.parse(stored.registeredAt) - Date.now())).toBeLessThan(5000);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2099-01-01T00:00:00Z'));
    expect(await store.renew('clock', 'c-1')).toBeDefined();
    expect(await store.sweep()).toEqual({ expired: 0, held: [] });
  });

  it('rejects start with a startup error naming the URL when Redis is unreachable', async () => {
    const url = `redis://127.0.0.1:${await deadPort()}`;
    const store = new RedisStore({ redis: redisOptions(url), startTimeoutMs: 500 });
    stores.push(store);
    const error = await store.start().catch((err: unknown) => err);
    expect(isWaypostError(error, 'startup')).toBe(true);
    expect((error as Error).message).toMatch(new RegExp(`^cannot reach Redis at ${url} within 500 ms`));
    expect(store.connected).toBe(false);
  });
});

describe('redis store outage', () => {
  let volatile: RedisServer;
  beforeAll(async () => {
    volatile = await RedisServer.start();
  });
  afterAll(async () => {
    await volatile?.stop();
  });

  it('rejects writes quickly while Redis is down and resets subscribers after it comes back', async () => {
    const store = new RedisStore({ redis: redisOptions(volatile.url), writeRetryMs: 1000 });
    await store.start();
    const feed = new FeedRecorder(store, 0);
    try {
      await waitFor('feed connected', () => feed.connection.includes(true));
      await store.register({ service: 'o', id: 'o-1', host: '10.0.0.1', port: 80 });
      await feed.waitForCount(1);

      await volatile.kill();
      const started = Date.now();
      const error = await store.register({ service: 'o', id: 'o-2', host: '10.0.0.1', port: 80 }).catch((err: unknown) => err);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(isWaypostError(error, 'registry_unavailable')).toBe(true);
      // In Waypost's words, not ioredis's ("Stream isn't writeable and enableOfflineQueue options is false").
      expect((error as WaypostError).message).toBe(`Redis at ${new URL(volatile.url).host} is unreachable`);
      await waitFor('feed disconnected', () => feed.connection.includes(false));
      expect(store.connected).toBe(false);

      await volatile.spawn();
      await waitFor('a reconnect reset', () => feed.resets.length > 0, { timeoutMs: 10_000 });
      expect(feed.resets).toEqual(['reconnect']);
      expect(feed.connection).toEqual([true, false, true]);
      await waitFor('store reconnected', () => store.connected, { timeoutMs: 10_000 });
      // Redis came back empty (no persistence in tests): resync from its state.
      const state = await store.state();
      expect(state.revision).toBe(0);
      feed.subscription.resume(state.revision);
      await store.register({ service: 'o', id: 'o-3', host: '10.0.0.1', port: 80 });
      await feed.waitForCount(2);
      expect(feed.events[1]).toMatchObject({ revision: 1, type: 'register', id: 'o-3' });
    } finally {
      feed.subscription.close();
      await store.close();
      await store.close();
    }
  });
});

describe('redis connection config', () => {
  const base = { url: '', sentinels: [] as string[], name: '', cluster: [] as string[], password: '' };
  const configFailure = (config: Partial<typeof base>): { code: string; field?: string; message: string } => {
    try {
      parseRedisTopology({ ...base, ...config });
    } catch (err) {
      const e = err as WaypostError;
      return { code: e.code, field: e.field, message: e.message };
    }
    throw new Error('expected a config error');
  };

  it('parses plain, TLS, Sentinel and Cluster targets', () => {
    expect(parseRedisTopology({ ...base, url: 'redis://:pw@10.0.0.1:6380/2' })).toEqual({
      kind: 'standalone', url: 'redis://:pw@10.0.0.1:6380/2', password: '',
    });
    expect(parseRedisTopology({ ...base, url: 'rediss://cache.example.com:6380' }).kind).toBe('standalone');
    expect(parseRedisTopology({ ...base, url: 'redis+sentinel://:s3@h1:26379,[::1]:26380/mymaster' })).toEqual({
      kind: 'sentinel', sentinels: [{ host: 'h1', port: 26379 }, { host: '::1', port: 26380 }], name: 'mymaster', password: 's3',
    });
    expect(parseRedisTopology({ ...base, sentinels: ['h1:26379'], name: 'm' })).toMatchObject({ kind: 'sentinel', name: 'm' });
    expect(parseRedisTopology({ ...base, cluster: ['10.0.0.1:7000', '10.0.0.2:7000'] })).toMatchObject({
      kind: 'cluster', nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7000 }],
    });
  });

  it('names the field and the bad value for malformed input', () => {
    expect(configFailure({ url: 'http://localhost:6379' })).toEqual({
      code: 'config', field: 'redis.url',
      message: 'redis.url: unsupported scheme "http:"; expected redis://, rediss:// or redis+sentinel://',
    });
    expect(configFailure({ url: 'not a url' })).toMatchObject({ code: 'config', field: 'redis.url' });
    expect(configFailure({ url: 'redis+sentinel://h1:26379' })).toEqual({
      code: 'config', field: 'redis.url',
      message: 'redis.url: expected redis+sentinel://host:port,host:port/mastername; got "redis+sentinel://h1:26379"',
    });
    expect(configFailure({ sentinels: ['h1:26379'] })).toEqual({
      code: 'config', field: 'redis.name', message: 'redis.name: the Sentinel master name is required with redis.sentinels',
    });
    expect(configFailure({ cluster: ['10.0.0.1:7000', 'nope'] })).toEqual({
      code: 'config', field: 'redis.cluster[1]', message: 'redis.cluster[1]: expected host:port; got "nope"',
    });
  });
});
