import { describe, expect, it } from 'vitest';
import { policyDefaultsSchema } from '../../../src/config/policy-schema.js';
import { Metrics } from '../../../src/metrics.js';
import { BACKOFF_CAP_FACTOR, buildRetryPolicy, RetryPolicy } from '../../../src/policy/retry-policy.js';
import { RetryBudget } from '../../../src/policy/retry-budget.js';

function policy(retry: Record<string, unknown>): RetryPolicy {
  const config = policyDefaultsSchema.parse({ retry }).retry!;
  return new RetryPolicy(config, new RetryBudget(config.budget, undefined));
}

describe('RetryPolicy', () => {
  it('maps each `on` word onto the failures it covers', () => {
    const p = policy({ on: ['connect-failure'] });
    expect(p.retriesFailure('connect_refused', false)).toBe(true);
    expect(p.retriesFailure('connect_timeout', false)).toBe(true);
    expect(p.retriesFailure('reset', true)).toBe(false);
    expect(p.retriesFailure('header_timeout', true)).toBe(false);
    const all = policy({ on: ['reset', 'timeout'] });
    expect(all.retriesFailure('reset', false)).toBe(true);
    expect(all.retriesFailure('header_timeout', true)).toBe(true);
    expect(all.retriesFailure('protocol', true)).toBe(false);
  });

  it('retries a timeout (the instance may have processed the request) only for a method that may repeat', () => {
    const p = policy({ on: ['timeout'] });
    expect(p.retriesFailure('header_timeout', p.allowsMethod('GET'))).toBe(true);
    expect(p.retriesFailure('header_timeout', p.allowsMethod('POST'))).toBe(false);
    expect(policy({ on: ['timeout'], unsafe: true }).allowsMethod('POST')).toBe(true);
  });

  it('knows the idempotent methods', () => {
    const p = policy({});
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']) expect(p.allowsMethod(method)).toBe(true);
    for (const method of ['POST', 'PATCH', 'CONNECT']) expect(p.allowsMethod(method)).toBe(false);
  });

  it('retries exactly the listed status codes', () => {
    const p = policy({ on: [502, 503] });
    expect(p.retriesStatuses).toBe(true);
    expect([500, 502, 503, 504, 200, 404, 599].map((s) => p.retriesStatus(s))).toEqual([false, true, true, false, false, false, false]);
    expect(policy({ on: ['reset'] }).retriesStatuses).toBe(false);
  });

  it('backs off with full jitter over base × 2^n, capped at BACKOFF_CAP_FACTOR × base', () => {
    const p = policy({ backoff: '10ms' });
    expect(p.backoffDelay(0, () => 0.999999)).toBeCloseTo(10, 3);
    expect(p.backoffDelay(1, () => 0.5)).toBe(10);
    expect(p.backoffDelay(3, () => 0.999999)).toBeCloseTo(80, 3);
    expect(p.backoffDelay(8, () => 0.999999)).toBeCloseTo(10 * BACKOFF_CAP_FACTOR, 3);
    expect(p.backoffDelay(1000, () => 1)).toBe(10 * BACKOFF_CAP_FACTOR);
    expect(p.backoffDelay(2, () => 0)).toBe(0);
    expect(policy({ backoff: '0s' }).backoffDelay(3, () => 0.5)).toBe(0);
  });

  it('tightens the header timeout to perTryTimeout, once per route', () => {
    const route = Object.freeze({ connect: 1000, header: 30_000, idle: 60_000 });
    const p = policy({ perTryTimeout: '2s' });
    const tightened = p.timeouts(route);
    expect(tightened).toEqual({ connect: 1000, header: 2000, idle: 60_000 });
    expect(p.timeouts(route)).toBe(tightened);
    expect(policy({ perTryTimeout: '0s' }).timeouts(route)).toBe(route);
    expect(policy({ perTryTimeout: '60s' }).timeouts(route)).toBe(route);
  });

  it('counts budget refusals under the route’s service', async () => {
    const metrics = new Metrics({ processMetrics: false });
    const config = policyDefaultsSchema.parse({ retry: { budget: '0%' } }).retry!;
    const p = buildRetryPolicy(config, { routeId: 'route[0]', service: 'orders' }, { metrics });
    for (let i = 0; i < 4; i++) p.budget.tryStartRetry();
    expect(await metrics.text()).toContain('waypost_retry_budget_exhausted_total{service="orders"} 1');
  });
});
