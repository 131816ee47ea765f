/**
 * waypost_registry_propagation_seconds stays a propagation time when this host's clock is
 * far from the Redis server's: the write is stamped with Redis TIME, and the mirror must not
 * subtract it from its own clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import { RegistryMirror } from '../../src/mirror/mirror.js';
import { RedisStore } from '../../src/registry/redis-store.js';
import { RedisServer } from '../helpers/redis-server.js';

let server: RedisServer;

beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await server?.stop();
});

/** The system clock shifted by `skewMs`, as on a host whose clock is set wrong. */
function skewedClock(skewMs: number): Clock {
  return { now: () => Date.now() + skewMs, setTimer: (fn, ms) => systemClock.setTimer(fn, ms) };
}

const SKEWS: [string, number][] = [
  ['two minutes ahead of', 120_000],
  ['two minutes behind', -120_000],
];

describe.each(SKEWS)('propagation measured on a host whose clock is %s Redis', (_, skewMs) => {
  it('observes the real write-to-mirror delay, not the clock skew', async () => {
    const clock = skewedClock(skewMs);
    const store = new RedisStore({
      redis: { url: server.url, sentinels: [], name: '', cluster: [], password: '', prefix: `skew${skewMs}`, feedLength: 1000 },
      clock,
      logger: silentLogger,
    });
    const metrics = new Metrics({ processMetrics: false });
    const mirror = new RegistryMirror({ store, logger: silentLogger, metrics, clock });
    try {
      await store.start();
      await mirror.start();
      // The estimate is the Redis clock minus ours: the skew, reversed, within a round trip.
      expect(Math.abs(store.clockOffsetMs! + skewMs)).toBeLessThan(50);

      for (let i = 0; i < 5; i++) await store.register({ service: 'orders', id: `o${i}`, host: '127.0.0.1', port: 9000 + i });
      for (let i = 0; i < 200 && (mirror.service('orders')?.instances.length ?? 0) < 5; i++) await new Promise((r) => setTimeout(r, 10));
      expect(mirror.service('orders')?.instances).toHaveLength(5);

      const { values } = await metrics.registryPropagation.get();
      const count = values.find((v) => v.metricName === 'waypost_registry_propagation_seconds_count')!.value;
      const sum = values.find((v) => v.metricName === 'waypost_registry_propagation_seconds_sum')!.value;
      expect(count).toBe(5);
      // Loopback Redis on a busy 2-core machine: well under a second each, nowhere near 120 s.
      expect(sum / count).toBeLessThan(1);
    } finally {
      mirror.close();
      await store.close();
    }
  });
});
