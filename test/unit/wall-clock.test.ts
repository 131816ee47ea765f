import { describe, expect, it } from 'vitest';
import { wallClockMs } from '../../src/wall-clock.js';

describe('wallClockMs', () => {
  it('keeps within a few milliseconds of Date.now() across resamples, and moves with it', async () => {
    const first = wallClockMs();
    const until = Date.now() + 700;
    let checked = 0;
    while (Date.now() < until) {
      const before = Date.now();
      const now = wallClockMs();
      const after = Date.now();
      // Within about a millisecond; this VM slews its wall clock by up to 4 ms a second between samples.
      expect(now).toBeGreaterThanOrEqual(before - 3);
      expect(now).toBeLessThanOrEqual(after + 3);
      checked++;
      await new Promise((resolve) => setTimeout(resolve, 7));
    }
    expect(checked).toBeGreaterThan(20);
    expect(wallClockMs() - first).toBeGreaterThanOrEqual(690);
  });
});
