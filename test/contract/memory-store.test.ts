import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { MemoryStore } from '../../src/registry/memory-store.js';
import { FeedRecorder, storeContract } from './store.contract.js';

storeContract('memory', async (options) => {
  const clock = new ManualClock();
  const store = new MemoryStore({ ...options, clock });
  await store.start();
  return { store, advance: (ms) => clock.advance(ms), cleanup: () => store.close() };
});

describe('memory store feed', () => {
  it('resets a subscriber whose start revision was trimmed from the feed', async () => {
    const store = new MemoryStore({ clock: new ManualClock(), feedLength: 2 });
    // Trimming works in chunks of feedLength / 8, so 4 writes leave at most 3 entries.
    for (const id of ['a', 'b', 'c', 'd']) await store.register({ service: 'orders', id, host: '10.0.0.1', port: 80 });
    const feed = new FeedRecorder(store, 1);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(feed.resets).toEqual(['trimmed']);
    expect(feed.events).toEqual([]);
    feed.subscription.resume((await store.state()).revision);
    await store.deregister('orders', 'a');
    await feed.waitForCount(1);
    expect(feed.summary()).toEqual(['deregister orders/a']);
    feed.subscription.close();
    await store.close();
  });
});
