import { describe, expect, test } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { HISTORY_LENGTH, HealthHistory } from '../../../src/health/history.js';

describe('HealthHistory', () => {
  test('keeps the last events of an instance, newest last, with when an ejection ends', () => {
    const clock = new ManualClock();
    const history = new HealthHistory(clock);
    for (let i = 0; i < HISTORY_LENGTH + 5; i++) {
      history.note('orders', 'o1', i % 2 ? 'healthy' : 'unhealthy', `event ${i}`);
      clock.advance(1_000);
    }
    history.note('orders', 'o1', 'ejected', '5 consecutive failures, last: reset', 30_000);
    const events = history.of('orders', 'o1');
    expect(events).toHaveLength(HISTORY_LENGTH);
    expect(events[0]!.reason).toBe('event 6');
    expect(events.at(-1)).toEqual({ at: clock.now(), health: 'ejected', reason: '5 consecutive failures, last: reset', until: clock.now() + 30_000 });
  });

  test('forgets instances that are no longer registered', () => {
    const history = new HealthHistory(new ManualClock());
    history.note('orders', 'o1', 'unhealthy', 'active check failed');
    history.note('orders', 'o2', 'unhealthy', 'active check failed');
    history.retain('orders', ['o2']);
    expect(history.of('orders', 'o1')).toEqual([]);
    expect(history.of('orders', 'o2')).toHaveLength(1);
    history.retain('orders', []);
    expect(history.of('orders', 'o2')).toEqual([]);
  });
});
