/**
 * The connect timeout on a real loopback socket whose connect never completes
 * (test/helpers/blackhole-port.ts: a full accept queue drops the SYN).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type Backend } from '../helpers/backends.js';
import { blackholePort, type BlackholePort } from '../helpers/blackhole-port.js';
import { ENGINES, json, request, startProxy, type ProxyHarness } from './proxy-harness.js';

const CONNECT_TIMEOUT_MS = 250;
/**
 * Scheduling slack on a loaded 2-core machine. Tight enough to catch undici's own connect
 * timeout, which runs on coarse "fast timers" (~0.5 s ticks: measured 1,075 ms for a 300 ms
 * timeout) and is replaced by a native timer (src/proxy/engines/precise-connect.ts).
 */
const SLACK_MS = 650;

describe.each(ENGINES)('the connect timeout with the %s engine', (engine) => {
  let blackhole: BlackholePort;
  let live: Backend;
  let proxy: ProxyHarness | undefined;

  beforeAll(async () => {
    blackhole = await blackholePort();
    live = await startBackend({ name: 'live' });
  });
  afterAll(async () => {
    await blackhole.close();
    await live.close();
  });
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
  });

  it('answers 504 upstream_timeout when the connect never completes', async () => {
    proxy = await startProxy(engine, [
      { host: 'orders.test', service: 'orders', targets: [blackhole.address], retries: 0, timeouts: { connect: CONNECT_TIMEOUT_MS } },
    ]);
    const started = performance.now();
    const reply = await request(proxy.port, { host: 'orders.test' });
    const elapsed = performance.now() - started;

    expect(reply.status).toBe(504);
    expect(reply.headers['x-waypost-error']).toBe('upstream_timeout');
    expect(json(reply).error).toBe('upstream_timeout');
    expect(elapsed).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 20);
    expect(elapsed).toBeLessThan(CONNECT_TIMEOUT_MS + SLACK_MS);
    expect(proxy.accessLog.at(-1)!.error).toBe('connect_timeout');
    expect(await proxy.metrics.text()).toContain('waypost_upstream_errors_total{service="orders",reason="connect_timeout"} 1');
  });

  it('retries a connect timeout on another instance', async () => {
    proxy = await startProxy(engine, [
      {
        host: 'orders.test',
        service: 'orders',
        targets: [blackhole.address, live.address],
        retries: 1,
        timeouts: { connect: CONNECT_TIMEOUT_MS },
      },
    ]);
    const reply = await request(proxy.port, { host: 'orders.test' });
    expect(reply.status).toBe(200);
    expect(reply.headers['x-backend']).toBe('live');
    expect(await proxy.metrics.text()).toContain('waypost_retries_total{service="orders"} 1');
  });
});
