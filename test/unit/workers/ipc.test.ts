import { describe, expect, it } from 'vitest';
import { isWaypostMessage, PendingRequests } from '../../../src/workers/ipc.js';

describe('isWaypostMessage', () => {
  it.each([
    { name: 'takes a message with a string wp', message: { wp: 'events', sub: 1 }, expected: true },
    { name: 'ignores a message of another library on the channel', message: { cmd: 'NODE_CLUSTER' }, expected: false },
    { name: 'ignores a wp that is not a string', message: { wp: 1 }, expected: false },
    { name: 'ignores null', message: null, expected: false },
    { name: 'ignores a string', message: 'wp', expected: false },
  ])('$name', ({ message, expected }) => {
    expect(isWaypostMessage(message)).toBe(expected);
  });
});

describe('PendingRequests', () => {
  it('resolves each request with the value of the reply carrying its id, in any order', async () => {
    const pending = new PendingRequests();
    const sent: number[] = [];
    const first = pending.request((id) => sent.push(id), 1000, 'first');
    const second = pending.request((id) => sent.push(id), 1000, 'second');
    expect(new Set(sent).size).toBe(2);
    pending.settle({ id: sent[1]!, ok: true, value: 'b' });
    pending.settle({ id: sent[0]!, ok: true, value: 'a' });
    expect(await Promise.all([first, second])).toEqual(['a', 'b']);
  });

  it('rejects with the error of a failed reply', async () => {
    const pending = new PendingRequests();
    let id = 0;
    const request = pending.request((n) => (id = n), 1000, 'metrics');
    pending.settle({ id, ok: false, error: 'registry closed' });
    await expect(request).rejects.toThrow('registry closed');
  });

  it('ignores a reply to an unknown or already settled request', async () => {
    const pending = new PendingRequests();
    let id = 0;
    const request = pending.request((n) => (id = n), 1000, 'state');
    pending.settle({ id: id + 100, ok: true, value: 'stray' });
    pending.settle({ id, ok: true, value: 'mine' });
    pending.settle({ id, ok: true, value: 'late duplicate' });
    expect(await request).toBe('mine');
  });

  it('rejects a request left unanswered after its timeout, naming what was asked', async () => {
    const pending = new PendingRequests();
    await expect(pending.request(() => {}, 30, 'worker metrics')).rejects.toThrow('worker metrics: no answer over IPC within 30 ms');
  });

  it('rejects a request whose send throws, with that error', async () => {
    const pending = new PendingRequests();
    const request = pending.request(() => {
      throw new Error('channel closed');
    }, 1000, 'state');
    await expect(request).rejects.toThrow('channel closed');
  });

  it('fails everything still waiting when the other side is gone', async () => {
    const pending = new PendingRequests();
    const requests = [pending.request(() => {}, 10_000, 'a'), pending.request(() => {}, 10_000, 'b')];
    pending.failAll('worker exited');
    for (const request of requests) await expect(request).rejects.toThrow('worker exited');
  });
});
