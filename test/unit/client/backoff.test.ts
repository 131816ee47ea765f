import { describe, expect, it } from 'vitest';
import { backoffDelay, jitter, sleep } from '../../../src/client/backoff.js';

/** The lowest and highest of many draws (the delay is random by design). */
function spread(draw: () => number, times = 2000): [number, number] {
  let low = Infinity;
  let high = -Infinity;
  for (let i = 0; i < times; i++) {
    const value = draw();
    low = Math.min(low, value);
    high = Math.max(high, value);
  }
  return [low, high];
}

describe('backoffDelay', () => {
  it.each([
    { name: 'starts near the initial delay', attempt: 0, options: { initialMs: 100, maxMs: 10_000 }, base: 100 },
    { name: 'doubles with each attempt', attempt: 3, options: { initialMs: 100, maxMs: 10_000 }, base: 800 },
    { name: 'uses 250 ms and 5 s when given no options', attempt: 1, options: {}, base: 500 },
  ])('$name: within ±20 % of the doubled delay', ({ attempt, options, base }) => {
    const [low, high] = spread(() => backoffDelay(attempt, options));
    expect(low).toBeGreaterThanOrEqual(Math.floor(base * 0.8));
    expect(high).toBeLessThanOrEqual(Math.ceil(base * 1.2));
    // The jitter really spreads: clients that failed together come back apart.
    expect(high - low).toBeGreaterThan(base * 0.2);
  });

  it('never exceeds the maximum, however many attempts failed', () => {
    for (const attempt of [10, 31, 1000, Number.MAX_SAFE_INTEGER]) {
      const [low, high] = spread(() => backoffDelay(attempt, { initialMs: 100, maxMs: 2000 }), 200);
      expect(high).toBeLessThanOrEqual(2000);
      expect(low).toBeGreaterThanOrEqual(1600);
    }
  });
});

describe('jitter', () => {
  it('spreads a value uniformly over ± the fraction of itself', () => {
    const [low, high] = spread(() => jitter(1000, 0.1), 5000);
    expect(low).toBeGreaterThanOrEqual(900);
    expect(high).toBeLessThanOrEqual(1100);
    expect(low).toBeLessThan(920);
    expect(high).toBeGreaterThan(1080);
  });

  it('leaves the value alone with a fraction of 0', () => {
    expect(jitter(1234, 0)).toBe(1234);
  });
});

describe('sleep', () => {
  it('waits the given time without a signal', async () => {
    const started = performance.now();
    await sleep(60);
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
  });

  it('ends early, without throwing, when its signal aborts', async () => {
    const owner = new AbortController();
    const started = performance.now();
    const sleeping = sleep(10_000, owner.signal);
    setTimeout(() => owner.abort(), 20);
    await sleeping;
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('returns at once when its signal has already aborted', async () => {
    const started = performance.now();
    await sleep(10_000, AbortSignal.abort());
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
