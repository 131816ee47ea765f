import { describe, expect, it } from 'vitest';
import { Metrics } from '../../../src/metrics.js';
import { RetryBudget, MIN_CONCURRENT_RETRIES } from '../../../src/policy/retry-budget.js';

describe('RetryBudget', () => {
  it('always allows the minimum concurrent retries, even with no active request', () => {
    const budget = new RetryBudget(0.2, undefined);
    for (let i = 0; i < MIN_CONCURRENT_RETRIES; i++) expect(budget.tryStartRetry()).toBe(true);
    expect(budget.tryStartRetry()).toBe(false);
    budget.retryEnded();
    expect(budget.tryStartRetry()).toBe(true);
  });

  it('allows retries in flight up to the ratio of active requests', () => {
    const budget = new RetryBudget(0.2, undefined);
    for (let i = 0; i < 50; i++) budget.requestStarted();
    let granted = 0;
    while (budget.tryStartRetry()) granted++;
    expect(granted).toBe(10);
    for (let i = 0; i < 40; i++) budget.requestEnded();
    for (let i = 0; i < 10; i++) budget.retryEnded();
    granted = 0;
    while (budget.tryStartRetry()) granted++;
    expect(granted).toBe(MIN_CONCURRENT_RETRIES);
  });

  it('counts each refusal', async () => {
    const metrics = new Metrics({ processMetrics: false });
    const budget = new RetryBudget(0, metrics.retryBudgetExhausted.labels('orders'), 1);
    expect(budget.tryStartRetry()).toBe(true);
    expect(budget.tryStartRetry()).toBe(false);
    expect(budget.tryStartRetry()).toBe(false);
    expect(await metrics.text()).toContain('waypost_retry_budget_exhausted_total{service="orders"} 2');
  });
});
