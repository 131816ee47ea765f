import { describe, expect, it } from 'vitest';
import { Metrics } from '../../../src/metrics.js';
import { ClusterMetrics, workerMetricsJson } from '../../../src/workers/ipc-metrics.js';

/** The value of one series in an exposition, or undefined when it is not there. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('ClusterMetrics', () => {
  async function cluster(): Promise<{ primary: ClusterMetrics; workers: Metrics[] }> {
    const primary = new ClusterMetrics();
    const workers = [new Metrics(), new Metrics()];
    primary.setWorkerSource(() => Promise.all(workers.map((worker) => workerMetricsJson(worker))));
    return { primary, workers };
  }

  it("sums the workers' request counters into one series", async () => {
    const { primary, workers } = await cluster();
    workers[0]!.requests.inc({ service: 'orders', code: '200' }, 3);
    workers[1]!.requests.inc({ service: 'orders', code: '200' }, 4);
    workers[1]!.requests.inc({ service: 'orders', code: '502' });
    const text = await primary.text();
    expect(sample(text, 'waypost_requests_total{service="orders",code="200"}')).toBe(7);
    expect(sample(text, 'waypost_requests_total{service="orders",code="502"}')).toBe(1);
    expect(text.match(/^# TYPE waypost_requests_total counter$/gm)).toHaveLength(1);
  });

  it("answers /v1/stats's request counts with the workers' (the primary serves none)", async () => {
    const primary = new ClusterMetrics();
    const workers = [new Metrics(), new Metrics()];
    primary.setWorkerSource(
      () => Promise.all(workers.map((worker) => workerMetricsJson(worker))),
      () => Promise.all(workers.map((worker) => worker.requestCounts())),
    );
    workers[0]!.requests.inc({ service: 'orders', code: '200' }, 3);
    workers[1]!.requests.inc({ service: 'orders', code: '503' }, 2);
    expect(await primary.requestCounts()).toEqual([
      { labels: { service: 'orders', code: '200' }, value: 3 },
      { labels: { service: 'orders', code: '503' }, value: 2 },
    ]);
  });

  it('counts registry series once, from the primary, not once per worker', async () => {
    const { primary, workers } = await cluster();
    primary.registryEvents.inc({ type: 'register' });
    for (const worker of workers) worker.registryEvents.inc({ type: 'register' });
    expect(sample(await primary.text(), 'waypost_registry_events_total{type="register"}')).toBe(1);
  });

  it('reports panic mode as the maximum over the workers, not their sum', async () => {
    const { primary, workers } = await cluster();
    for (const worker of workers) worker.panicMode.set({ service: 'orders' }, 1);
    expect(sample(await primary.text(), 'waypost_panic_mode{service="orders"}')).toBe(1);
  });

  it("leaves the primary's own (empty) request series out", async () => {
    const { primary } = await cluster();
    primary.requests.inc({ service: 'orders', code: '200' }, 99);
    expect(sample(await primary.text(), 'waypost_requests_total{service="orders",code="200"}')).toBeUndefined();
  });
});

describe('workerMetricsJson', () => {
  it("leaves out the series only the primary reports", async () => {
    const names = (await workerMetricsJson(new Metrics())).map((metric) => metric.name);
    expect(names).toContain('waypost_requests_total');
    for (const primaryOnly of ['waypost_registry_events_total', 'waypost_registry_connected', 'waypost_endpoints', 'waypost_self_preservation']) {
      expect(names).not.toContain(primaryOnly);
    }
  });
});
