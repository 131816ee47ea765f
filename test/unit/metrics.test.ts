import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics.js';
import { ServiceMetricsCache } from '../../src/proxy/service-metrics.js';

function fill(metrics: Metrics, service: string): void {
  metrics.requests.inc({ service, code: '200' });
  metrics.requests.inc({ service, code: '503' });
  metrics.requestDuration.observe({ service }, 0.01);
  metrics.upstreamErrors.inc({ service, reason: 'reset' });
  metrics.retries.inc({ service });
  metrics.panicMode.set({ service }, 1);
  metrics.ejections.inc({ service });
  metrics.selfPreservation.set({ service }, 0);
}

describe('Metrics.removeServices', () => {
  it('removes every series of the given services from every service-labelled metric and keeps the rest', async () => {
    const metrics = new Metrics({ processMetrics: false });
    for (const service of ['gone', 'also-gone', 'kept']) fill(metrics, service);
    await metrics.removeServices(new Set(['gone', 'also-gone']));
    const text = await metrics.text();
    expect(text).not.toContain('gone"');
    for (const name of ['requests_total', 'request_duration_seconds_bucket', 'upstream_errors_total', 'retries_total', 'panic_mode', 'ejections_total', 'self_preservation']) {
      expect(text).toContain(`waypost_${name}{`);
    }
    expect(text).toContain('waypost_requests_total{service="kept",code="503"} 1');
    expect(text).toContain('waypost_request_duration_seconds_count{service="kept"} 1');
  });

  it('drops the cached children of removed services so they start over when used again', async () => {
    const metrics = new Metrics({ processMetrics: false });
    const cache = new ServiceMetricsCache(metrics);
    const first = cache.of('orders');
    first.request(200).inc();
    cache.of('users');
    await metrics.removeServices(new Set(['orders']));
    expect(cache.size).toBe(1);
    const second = cache.of('orders');
    expect(second).not.toBe(first);
    second.request(200).inc();
    expect(await metrics.text()).toContain('waypost_requests_total{service="orders",code="200"} 1');
  });
});
