import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, systemClock, type Clock } from '../../../src/clock.js';
import { ActiveChecker, type ProbeResult } from '../../../src/health/active.js';
import { EndpointPool } from '../../../src/health/state.js';
import { silentLogger } from '../../../src/log.js';
import type { ServiceState } from '../../../src/registry/store.js';
import type { InstanceRecord } from '../../../src/types.js';
import { record, serviceState } from '../../helpers/endpoints.js';
import { freePort } from '../../helpers/ports.js';

const INTERVAL = 1000;

interface HealthBackend {
  port: number;
  /** Status the health path answers with. */
  status: number;
  /** Delay before answering (ms). */
  delayMs: number;
  requests: number;
  inflight: number;
  maxInflight: number;
  close(): Promise<void>;
}

async function healthBackend(): Promise<HealthBackend> {
  const state = { status: 200, delayMs: 0, requests: 0, inflight: 0, maxInflight: 0 };
  const server = http.createServer((req, res) => {
    state.requests++;
    state.inflight++;
    state.maxInflight = Math.max(state.maxInflight, state.inflight);
    const answer = (): void => {
      state.inflight--;
      res.writeHead(req.url === '/healthz' ? state.status : 404, { 'content-type': 'text/plain' });
      res.end('ok');
    };
    if (state.delayMs > 0) setTimeout(answer, state.delayMs);
    else answer();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(state, {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function setup(instances: InstanceRecord[], check: { type?: 'http' | 'tcp'; passes?: number; fails?: number; timeout?: number; interval?: number } = {}, clock: Clock = new ManualClock()) {
  const pool = new EndpointPool(clock);
  let state: ServiceState = serviceState('orders', instances);
  const listeners = new Set<(service: string, state: ServiceState | undefined) => void>();
  const probes: ProbeResult[] = [];
  const waiters: (() => void)[] = [];
  const checker = new ActiveChecker({
    pool,
    clock,
    random: () => 0.5,
    logger: silentLogger,
    source: {
      service: (name) => (name === 'orders' ? state : undefined),
      onChange: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    },
    checks: {
      orders: {
        type: check.type ?? 'http',
        grpcService: '',
        path: '/healthz',
        interval: check.interval ?? INTERVAL,
        timeout: check.timeout ?? 500,
        passes: check.passes ?? 2,
        fails: check.fails ?? 3,
        expectStatus: [200, 299],
      },
    },
    onProbe: (result) => {
      probes.push(result);
      waiters.splice(0).forEach((w) => w());
    },
  });
  cleanup.push(() => checker.close());
  const nextProbe = () => new Promise<void>((resolve) => waiters.push(resolve));
  let first = true;
  /**
   * Move the clock exactly to the next probe (the first goes out at a twentieth of
   * the interval with random 0.5, later ones one interval after the previous
   * finished) and wait for it to finish; the probe's timeout is never reached.
   */
  const probe = async (): Promise<ProbeResult> => {
    const done = nextProbe();
    (clock as ManualClock).advance(first ? INTERVAL * 0.05 : INTERVAL);
    first = false;
    await done;
    return probes.at(-1)!;
  };
  const replace = (next: InstanceRecord[]) => {
    state = serviceState('orders', next, state.revision + 1);
    for (const l of listeners) l('orders', state);
  };
  return { pool, checker, probes, probe, replace, nextProbe };
}

describe('ActiveChecker', () => {
  it('flips to unhealthy after exactly `fails` failing probes and back after exactly `passes` passing ones', async () => {
    const backend = await healthBackend();
    cleanup.push(() => backend.close());
    const { pool, checker, probe } = setup([record('orders', 'a', { host: '127.0.0.1', port: backend.port })]);
    checker.start();
    const health = () => pool.peek('orders', 'a')?.activeHealthy;

    expect(health()).toBeUndefined(); // unknown = eligible until probes say otherwise
    expect(await probe()).toMatchObject({ ok: true });
    expect(health()).toBeUndefined();
    await probe();
    expect(health()).toBe(true);

    backend.status = 503;
    expect(await probe()).toMatchObject({ ok: false, detail: 'status_503', healthy: true });
    await probe();
    expect(health()).toBe(true);
    await probe();
    expect(health()).toBe(false);

    backend.status = 200;
    await probe();
    expect(health()).toBe(false);
    await probe();
    expect(health()).toBe(true);
  });

  it('starts the fail count again after a pass', async () => {
    const backend = await healthBackend();
    cleanup.push(() => backend.close());
    const { pool, checker, probe } = setup([record('orders', 'a', { host: '127.0.0.1', port: backend.port })]);
    checker.start();
    backend.status = 500;
    await probe();
    await probe();
    backend.status = 200;
    await probe();
    backend.status = 500;
    await probe();
    await probe();
    expect(pool.peek('orders', 'a')?.activeHealthy).toBeUndefined();
    await probe();
    expect(pool.peek('orders', 'a')?.activeHealthy).toBe(false);
  });

  it('counts a probe without an answer within `timeout` as a failure', async () => {
    const backend = await healthBackend();
    cleanup.push(() => backend.close());
    backend.delayMs = 60_000;
    const clock = new ManualClock();
    const { probes, checker, nextProbe } = setup([record('orders', 'a', { host: '127.0.0.1', port: backend.port })], { fails: 1 }, clock);
    checker.start();
    clock.advance(INTERVAL * 0.05); // the first probe goes out within a tenth of an interval
    for (let i = 0; i < 100 && backend.requests === 0; i++) await new Promise((r) => setTimeout(r, 5));
    const done = nextProbe();
    clock.advance(500);
    await done;
    expect(probes[0]).toMatchObject({ ok: false, detail: 'timeout', healthy: false });
  });

  it('checks TCP instances by connecting', async () => {
    const backend = await healthBackend();
    cleanup.push(() => backend.close());
    const closed = await freePort();
    const { pool, checker, probe } = setup(
      [record('orders', 'open', { host: '127.0.0.1', port: backend.port }), record('orders', 'closed', { host: '127.0.0.1', port: closed })],
      { type: 'tcp', fails: 1, passes: 1 },
    );
    checker.start();
    await probe();
    // Both probes run on the same schedule; wait until both reported.
    for (let i = 0; i < 100 && (pool.peek('orders', 'open')?.activeHealthy === undefined || pool.peek('orders', 'closed')?.activeHealthy === undefined); i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(pool.peek('orders', 'open')?.activeHealthy).toBe(true);
    expect(pool.peek('orders', 'closed')?.activeHealthy).toBe(false);
  });

  it('stops probing instances that left the registry and starts on new ones', async () => {
    const backend = await healthBackend();
    cleanup.push(() => backend.close());
    const a = record('orders', 'a', { host: '127.0.0.1', port: backend.port });
    const b = record('orders', 'b', { host: '127.0.0.1', port: backend.port });
    const { checker, replace, probes, probe } = setup([a]);
    checker.start();
    expect(checker.probedCount('orders')).toBe(1);
    replace([b]);
    expect(checker.probedCount('orders')).toBe(1);
    await probe();
    await probe();
    expect(new Set(probes.map((p) => p.id))).toEqual(new Set(['b']));
    replace([]);
    expect(checker.probedCount('orders')).toBe(0);
  });

  it('never overlaps probes of one instance, even when the health endpoint is slower than the interval', async () => {
    const backend = await healthBackend();
    cleanup.push(() => backend.close());
    backend.delayMs = 150;
    const { checker, probes } = setup([record('orders', 'a', { host: '127.0.0.1', port: backend.port })], { interval: 20, timeout: 2000 }, systemClock);
    checker.start();
    for (let i = 0; i < 200 && probes.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
    checker.close();
    expect(probes.length).toBeGreaterThanOrEqual(4);
    expect(backend.maxInflight).toBe(1);
  });

  describe('instances that are not UP', () => {
    it('probes only UP instances: DRAINING and OUT_OF_SERVICE ones take no traffic', async () => {
      const up = await healthBackend();
      const draining = await healthBackend();
      const outOfService = await healthBackend();
      cleanup.push(() => up.close(), () => draining.close(), () => outOfService.close());
      const { checker, probe, probes } = setup([
        record('orders', 'a', { host: '127.0.0.1', port: up.port }),
        record('orders', 'b', { host: '127.0.0.1', port: draining.port, status: 'DRAINING' }),
        record('orders', 'c', { host: '127.0.0.1', port: outOfService.port, status: 'OUT_OF_SERVICE' }),
      ]);
      checker.start();
      expect(checker.probedCount('orders')).toBe(1);
      await probe();
      await probe();
      await probe();
      expect(new Set(probes.map((p) => p.id))).toEqual(new Set(['a']));
      expect(up.requests).toBe(3);
      expect(draining.requests + outOfService.requests).toBe(0);
    });

    it('stops probing an instance that starts draining, and does not trust it again until a probe passes', async () => {
      const backend = await healthBackend();
      cleanup.push(() => backend.close());
      const clock = new ManualClock();
      const a = record('orders', 'a', { host: '127.0.0.1', port: backend.port });
      const { pool, checker, probe, replace, nextProbe } = setup([a], {}, clock);
      const health = () => pool.peek('orders', 'a')?.activeHealthy;
      checker.start();
      await probe();
      await probe();
      expect(health()).toBe(true);

      replace([record('orders', 'a', { host: '127.0.0.1', port: backend.port, status: 'DRAINING' })]);
      expect(checker.probedCount('orders')).toBe(0);
      const before = backend.requests;
      clock.advance(INTERVAL * 5);
      await new Promise((r) => setTimeout(r, 50));
      expect(backend.requests).toBe(before);

      replace([a]);
      // Back to UP: unhealthy until probed, and probed within the first tenth of an interval.
      expect(health()).toBe(false);
      const probed = nextProbe();
      clock.advance(INTERVAL * 0.05);
      await probed;
      // One pass is enough for a returning instance (passes is 2 here).
      expect(health()).toBe(true);
    });

    it('needs the usual passes when a returning instance fails its first probe', async () => {
      const backend = await healthBackend();
      cleanup.push(() => backend.close());
      const clock = new ManualClock();
      const a = record('orders', 'a', { host: '127.0.0.1', port: backend.port, status: 'OUT_OF_SERVICE' });
      const { pool, checker, replace, nextProbe } = setup([a], {}, clock);
      const health = () => pool.peek('orders', 'a')?.activeHealthy;
      checker.start();
      backend.status = 503;
      replace([{ ...a, status: 'UP' }]);
      expect(health()).toBe(false);
      let probed = nextProbe();
      clock.advance(INTERVAL * 0.05);
      await probed;
      expect(health()).toBe(false);
      backend.status = 200;
      probed = nextProbe();
      clock.advance(INTERVAL);
      await probed;
      expect(health()).toBe(false);
      probed = nextProbe();
      clock.advance(INTERVAL);
      await probed;
      expect(health()).toBe(true);
    });
  });
});
