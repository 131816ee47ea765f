/** DeadlineTimer (src/proxy/engines/deadline-timer.ts) on Node's real timers: short waits, generous bounds. */
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { DeadlineTimer } from '../../../src/proxy/engines/deadline-timer.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Deadlines kept in a list, expired by the timer as a pool would: what fired, and when. */
function deadlines(): { timer: DeadlineTimer; add(at: number): void; fired: number[]; visits: number[] } {
  const pending: number[] = [];
  const fired: number[] = [];
  const visits: number[] = [];
  const timer = new DeadlineTimer((now) => {
    visits.push(now);
    let next = Infinity;
    for (let i = pending.length - 1; i >= 0; i--) {
      const at = pending[i]!;
      if (at <= now) {
        fired.push(at);
        pending.splice(i, 1);
      } else if (at < next) next = at;
    }
    return next;
  });
  return { timer, fired, visits, add: (at) => { pending.push(at); timer.require(at); } };
}

describe('DeadlineTimer', () => {
  it('fires each deadline no earlier than it is due, the earliest first', async () => {
    const d = deadlines();
    const start = performance.now();
    d.add(start + 120);
    d.add(start + 40);
    await sleep(80);
    expect(d.fired).toContain(start + 40);
    // (A machine that stalled the loop past 120 ms fired both on one visit.)
    if (d.visits[0]! < start + 120) expect(d.fired).toEqual([start + 40]);
    await sleep(150);
    expect(d.fired).toEqual([start + 40, start + 120]);
    // Never early: each deadline fired on a visit at or after it.
    for (const at of d.fired) expect(d.visits.some((now) => now >= at)).toBe(true);
    expect(d.visits.every((now) => now >= start + 40)).toBe(true);
  });

  it('is not re-armed for a later deadline: one visit serves the deadlines due by then', async () => {
    const d = deadlines();
    const start = performance.now();
    for (let i = 0; i < 50; i++) d.add(start + 60 + i * 0.01);
    await sleep(150);
    expect(d.fired).toHaveLength(50);
    // One visit, or a few when the loop's clock lagged and a visit came a fraction of a millisecond early.
    expect(d.visits.length).toBeLessThanOrEqual(3);
  });

  it('re-arms for an earlier deadline', async () => {
    const d = deadlines();
    const start = performance.now();
    d.add(start + 5_000);
    d.add(start + 30);
    await sleep(120);
    expect(d.fired).toEqual([start + 30]);
    d.timer.stop();
  });

  it('waits for a deadline past the longest delay a Node.js timer takes instead of firing at once', async () => {
    const d = deadlines();
    d.add(performance.now() + 3e9);
    await sleep(60);
    // Node fires a timer of more than 2^31 − 1 ms after 1 ms: unclamped, this would spin.
    expect(d.visits).toEqual([]);
    d.timer.stop();
  });

  it('stop() disarms it', async () => {
    const d = deadlines();
    d.add(performance.now() + 30);
    d.timer.stop();
    await sleep(80);
    expect(d.visits).toEqual([]);
    expect(d.fired).toEqual([]);
  });
});
