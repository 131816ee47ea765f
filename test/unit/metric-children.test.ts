import client from 'prom-client';
import { describe, expect, it } from 'vitest';
import { counterHandle, histogramHandle } from '../../src/metric-children.js';

function registry() {
  const register = new client.Registry();
  const counter = new client.Counter({ name: 't_total', help: 'h', labelNames: ['service', 'code'], registers: [register] });
  const histogram = new client.Histogram({ name: 't_seconds', help: 'h', labelNames: ['service'], buckets: [0.01, 0.1, 1], registers: [register] });
  return { register, counter, histogram };
}

describe('metric handles', () => {
  it('count into the very series prom-client exposes, beside labels() children', async () => {
    const { register, counter } = registry();
    const handle = counterHandle(counter, { service: 'orders', code: '200' });
    handle.inc();
    handle.inc(2);
    counter.labels('orders', '200').inc();
    counterHandle(counter, { service: 'orders', code: '503' }).inc();
    const text = await register.metrics();
    expect(text).toContain('t_total{service="orders",code="200"} 4');
    expect(text).toContain('t_total{service="orders",code="503"} 1');
  });

  it('observe into cumulative buckets, sum and count exactly as prom-client would', async () => {
    const mine = registry();
    const theirs = registry();
    const handle = histogramHandle(mine.histogram, { service: 'orders' });
    for (const value of [0.005, 0.01, 0.05, 0.5, 2, 30]) {
      handle.observe(value);
      theirs.histogram.observe({ service: 'orders' }, value);
    }
    expect(await mine.register.metrics()).toBe(await theirs.register.metrics());
  });

  it('a second handle on an existing series continues it', async () => {
    const { register, histogram } = registry();
    histogram.observe({ service: 'orders' }, 0.05);
    histogramHandle(histogram, { service: 'orders' }).observe(0.05);
    expect(await register.metrics()).toContain('t_seconds_count{service="orders"} 2');
  });
});
