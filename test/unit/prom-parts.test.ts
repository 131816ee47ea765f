import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics.js';
import { Counter, Gauge, Histogram, Registry } from '../../src/prom-parts.js';

const client = createRequire(import.meta.url)('prom-client') as typeof import('prom-client');

describe('prom-client loaded piece by piece', () => {
  it('gives prom-client’s own classes', () => {
    expect(Registry).toBe(client.Registry);
    expect(Counter).toBe(client.Counter);
    expect(Gauge).toBe(client.Gauge);
    expect(Histogram).toBe(client.Histogram);
  });

  it('starts the process metrics on the first scrape, CPU counted from process start', async () => {
    const metrics = new Metrics();
    expect(metrics.registry.getSingleMetric('process_cpu_seconds_total')).toBeUndefined();
    const used = process.cpuUsage();
    const text = await metrics.text();
    for (const name of ['process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_gc_duration_seconds', 'nodejs_eventloop_lag_seconds']) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    const cpu = Number(/^process_cpu_seconds_total (\S+)$/m.exec(text)?.[1]);
    expect(cpu).toBeGreaterThanOrEqual((used.user + used.system) / 1e6);
    // Once only: a second scrape neither registers again nor throws.
    expect(await metrics.text()).toContain('process_cpu_seconds_total');
  });

  it('keeps them off when asked', async () => {
    expect(await new Metrics({ processMetrics: false }).text()).not.toContain('process_cpu_seconds_total');
  });
});
