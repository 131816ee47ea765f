import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/endpoint.js';
import { Metrics } from '../../../src/metrics.js';
import { ConcurrencyLimit, type SlotWaiter } from '../../../src/policy/concurrency.js';
import { InstanceSlots } from '../../../src/policy/instance-slots.js';
import { endpointSet } from '../../helpers/endpoints.js';
import { waitFor } from '../../helpers/wait.js';

const [a, b] = endpointSet({ a: 100, b: 100 }).endpoints as [Endpoint, Endpoint];

function limit(config: { maxPerInstance: number; maxPending: number; queueTimeout: number }, slots = new InstanceSlots(), metrics = new Metrics({ processMetrics: false })) {
  return new ConcurrencyLimit(config, 'svc', slots, metrics.pendingRequests.labels('svc'), metrics.overloadRejections.labels('svc'));
}

/** A waiter that takes a slot on `endpoint` when one is free, recording what happened to it. */
function waiter(l: ConcurrencyLimit, endpoint: Endpoint, log: string[], name: string): SlotWaiter {
  return {
    deadline: 0,
    admit: () => {
      if (!l.tryAcquire(endpoint)) return false;
      log.push(`${name} admitted`);
      return true;
    },
    expire: () => log.push(`${name} expired`),
  };
}

describe('ConcurrencyLimit', () => {
  it('gives at most maxPerInstance slots per instance and forgets an instance with none in use', () => {
    const slots = new InstanceSlots();
    const l = limit({ maxPerInstance: 2, maxPending: 0, queueTimeout: 1000 }, slots);
    expect([l.tryAcquire(a), l.tryAcquire(a), l.tryAcquire(a), l.tryAcquire(b)]).toEqual([true, true, false, true]);
    l.release(a);
    expect(l.tryAcquire(a)).toBe(true);
    l.release(a);
    l.release(a);
    l.release(b);
    expect(slots.size).toBe(0);
  });

  it('admits queued requests in FIFO order as slots free', () => {
    const l = limit({ maxPerInstance: 1, maxPending: 5, queueTimeout: 10_000 });
    const log: string[] = [];
    expect(l.tryAcquire(a)).toBe(true);
    expect(l.enqueue(waiter(l, a, log, 'w1'))).toBe(true);
    expect(l.enqueue(waiter(l, a, log, 'w2'))).toBe(true);
    l.release(a);
    expect(log).toEqual(['w1 admitted']);
    expect(l.waiting).toBe(1);
    l.release(a);
    expect(log).toEqual(['w1 admitted', 'w2 admitted']);
    expect(l.waiting).toBe(0);
  });

  it('refuses beyond maxPending and counts it', async () => {
    const metrics = new Metrics({ processMetrics: false });
    const l = limit({ maxPerInstance: 1, maxPending: 1, queueTimeout: 10_000 }, new InstanceSlots(), metrics);
    const log: string[] = [];
    l.tryAcquire(a);
    expect(l.enqueue(waiter(l, a, log, 'w1'))).toBe(true);
    expect(l.enqueue(waiter(l, a, log, 'w2'))).toBe(false);
    const text = await metrics.text();
    expect(text).toContain('waypost_overload_rejections_total{service="svc"} 1');
    expect(text).toContain('waypost_pending_requests{service="svc"} 1');
    l.release(a);
    expect(await metrics.text()).toContain('waypost_pending_requests{service="svc"} 0');
  });

  it('expires waiters after queueTimeout, in order, with one timer', async () => {
    const l = limit({ maxPerInstance: 1, maxPending: 5, queueTimeout: 50 });
    const log: string[] = [];
    l.tryAcquire(a);
    l.enqueue(waiter(l, a, log, 'w1'));
    l.enqueue(waiter(l, a, log, 'w2'));
    await waitFor('both expired', () => log.length === 2);
    expect(log).toEqual(['w1 expired', 'w2 expired']);
    expect(l.waiting).toBe(0);
  });

  it('a waiter that leaves is never admitted', () => {
    const l = limit({ maxPerInstance: 1, maxPending: 5, queueTimeout: 10_000 });
    const log: string[] = [];
    l.tryAcquire(a);
    const w1 = waiter(l, a, log, 'w1');
    l.enqueue(w1);
    l.enqueue(waiter(l, a, log, 'w2'));
    l.leave(w1);
    l.release(a);
    expect(log).toEqual(['w2 admitted']);
  });

  it('routes sharing the app’s InstanceSlots count one instance together, and any release wakes the other’s queue', () => {
    const slots = new InstanceSlots();
    const one = limit({ maxPerInstance: 2, maxPending: 5, queueTimeout: 10_000 }, slots);
    const two = limit({ maxPerInstance: 2, maxPending: 5, queueTimeout: 10_000 }, slots);
    const log: string[] = [];
    expect([one.tryAcquire(a), two.tryAcquire(a), two.tryAcquire(a)]).toEqual([true, true, false]);
    two.enqueue(waiter(two, a, log, 'w'));
    one.release(a);
    expect(log).toEqual(['w admitted']);
  });
});
