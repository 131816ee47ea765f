/**
 * A cluster worker's store (IpcRegistryStore) against the primary's real side of it
 * (RegistryRelay over a MemoryStore and the primary's RegistryMirror), the two joined by
 * real IPC channels. The store is read-only: the contract writes through the primary's store.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { RegistryMirror } from '../../src/mirror/mirror.js';
import { MemoryStore, type MemoryStoreOptions } from '../../src/registry/memory-store.js';
import type { WorkerMessage } from '../../src/workers/ipc.js';
import { IpcRegistryStore } from '../../src/workers/ipc-store.js';
import { RegistryRelay } from '../../src/workers/registry-relay.js';
import { IpcPipe } from '../helpers/ipc-pipe.js';
import { waitFor } from '../helpers/wait.js';
import { FeedRecorder, storeContract, type StoreHarness } from './store.contract.js';

interface ClusterPair extends StoreHarness {
  store: IpcRegistryStore;
  writer: MemoryStore;
  settle(): Promise<void>;
}

/** A primary (store, mirror, relay) and one worker's store, as primary.ts and worker.ts wire them. */
async function clusterPair(options: Omit<MemoryStoreOptions, 'clock'> = {}): Promise<ClusterPair> {
  const clock = new ManualClock();
  const primaryStore = new MemoryStore({ ...options, clock });
  await primaryStore.start();
  const mirror = new RegistryMirror({ store: primaryStore, logger: silentLogger });
  await mirror.start();
  const [toPrimary, toWorker] = await Promise.all([IpcPipe.open(), IpcPipe.open()]);
  const relay = new RegistryRelay({ store: primaryStore, mirror, send: (message) => toWorker.send(message) });
  toPrimary.onMessage((message) => relay.handle(message as WorkerMessage));
  const store = new IpcRegistryStore('memory', {
    send: (message) => toPrimary.send(message),
    onMessage: (listener) => toWorker.onMessage(listener),
  });
  await store.start();
  return {
    store,
    writer: primaryStore,
    advance: (ms) => clock.advance(ms),
    // The worker's state() is the primary's mirror: settled once that holds the store's last write.
    settle: async () => {
      const { revision } = await primaryStore.state();
      if (!(await mirror.waitForRevision(revision, 5000))) throw new Error(`the primary's mirror never reached revision ${revision}`);
    },
    cleanup: async () => {
      await store.close();
      relay.close();
      mirror.close();
      await primaryStore.close();
      await Promise.all([toPrimary.close(), toWorker.close()]);
    },
  };
}

storeContract('ipc (cluster worker)', clusterPair, { readOnly: true });

describe('ipc store feed', () => {
  it('passes on a reset of the primary store and resumes from the revision the worker loaded', async () => {
    const pair = await clusterPair({ feedLength: 2 });
    try {
      // Trimming works in chunks of feedLength / 8, so 4 writes leave at most 3 entries.
      for (const id of ['a', 'b', 'c', 'd']) await pair.writer.register({ service: 'orders', id, host: '10.0.0.1', port: 80 });
      const feed = new FeedRecorder(pair.store, 1);
      await waitFor('the reset of a trimmed feed', () => feed.resets.length > 0);
      expect(feed.resets).toEqual(['trimmed']);
      expect(feed.events).toEqual([]);
      await pair.settle();
      feed.subscription.resume((await pair.store.state()).revision);
      await pair.writer.deregister('orders', 'a');
      await feed.waitForCount(1);
      expect(feed.summary()).toEqual(['deregister orders/a']);
      feed.subscription.close();
    } finally {
      await pair.cleanup();
    }
  });

  it('fails a state request still waiting when the store closes', async () => {
    const pair = await clusterPair();
    try {
      const pending = pair.store.state();
      await pair.store.close();
      await expect(pending).rejects.toThrow('registry store closed');
    } finally {
      await pair.cleanup();
    }
  });
});
