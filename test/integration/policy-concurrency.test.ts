/**
 * `concurrency` end to end through the real app (config routes, memory registry,
 * real backends that count the requests they hold at once): never more than
 * maxPerInstance in flight per instance, full instances passed over, a bounded
 * queue that proceeds as slots free, 503 overloaded with Retry-After when the queue
 * is full or queueTimeout passes, a client leaving the queue, WebSocket upgrades
 * neither limited nor taking request slots.
 */
import http from 'node:http';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import type { TestApp } from '../helpers/app.js';
import { POLICY_HOST, metricSum, policySuite, startPolicyApp } from '../helpers/policy-app.js';
import { answerWith, startScripted } from '../helpers/scripted-backend.js';
import { waitFor } from '../helpers/wait.js';
import { ENGINES, request, type Reply } from './proxy-harness.js';
import { startWsBackend } from './stream-harness.js';

const HOST = POLICY_HOST;
const suite = policySuite();
const backends = suite.backends;
const metric = metricSum;

async function setup(concurrency: Record<string, unknown>, delaysMs: number[], engine: (typeof ENGINES)[number] = 'undici'): Promise<TestApp> {
  for (const [i, delay] of delaysMs.entries()) backends.push(await startScripted(answerWith(`b${i}`, 200, delay)));
  return startPolicyApp(suite, { concurrency }, backends, { engine });
}

function statuses(replies: Reply[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const r of replies) counts[r.status] = (counts[r.status] ?? 0) + 1;
  return counts;
}

for (const engine of ENGINES) {
  describe(`concurrency (${engine})`, () => {
    it('never holds more than maxPerInstance at a slow instance; the queue proceeds as slots free, beyond it 503 overloaded', async () => {
      // 1.5 s per answer: all eight are in before the first one ends, even on a busy machine.
      const t = await setup({ maxPerInstance: 2, maxPending: 3, queueTimeout: '20s' }, [1_500], engine);
      const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => request(t.port, { host: HOST, path: `/c${i}` })));
      expect(backends[0]!.maxInflight).toBe(2);
      expect(statuses(replies)).toEqual({ 200: 5, 503: 3 });
      const refused = replies.find((r) => r.status === 503)!;
      expect(refused.headers['x-waypost-error']).toBe('overloaded');
      expect(refused.headers['retry-after']).toBeDefined();
      expect(await metric(t, 'waypost_overload_rejections_total')).toBe(3);
      expect(await metric(t, 'waypost_pending_requests')).toBe(0);
    }, 30_000);
  });
}

describe('concurrency queue', () => {
  it('a full instance is passed over for a free one before anything queues', async () => {
    const t = await setup({ maxPerInstance: 1, maxPending: 0 }, [300, 300]);
    const replies = await Promise.all([0, 1].map((i) => request(t.port, { host: HOST, path: `/f${i}` })));
    expect(statuses(replies)).toEqual({ 200: 2 });
    expect(backends.map((b) => b.requests)).toEqual([1, 1]);
  });

  it('answers 503 overloaded once queueTimeout passes', async () => {
    const t = await setup({ maxPerInstance: 2, maxPending: 10, queueTimeout: '200ms' }, [3_000]);
    const started = Date.now();
    const replies = await Promise.all(Array.from({ length: 4 }, (_, i) => request(t.port, { host: HOST, path: `/q${i}` }).then((r) => ({ r, ms: Date.now() - started }))));
    const refused = replies.filter(({ r }) => r.status === 503);
    expect(refused).toHaveLength(2);
    // Refused at the queue timeout, long before the instance answered the other two.
    for (const { r, ms } of refused) {
      expect(r.headers['x-waypost-error']).toBe('overloaded');
      expect(ms).toBeLessThan(2_500);
    }
    expect(backends[0]!.requests).toBe(2);
  }, 30_000);

  it('a client that leaves while queued leaves the queue and never reaches the instance', async () => {
    const t = await setup({ maxPerInstance: 1, maxPending: 5, queueTimeout: '20s' }, [3_000]);
    const first = request(t.port, { host: HOST, path: '/held' });
    await waitFor('first request at the instance', () => backends[0]!.inflight === 1);
    const leaving = http.request({ host: '127.0.0.1', port: t.port, path: '/leaving', headers: { host: HOST }, agent: false });
    leaving.on('error', () => {});
    leaving.end();
    await waitFor('one request queued', async () => (await metric(t, 'waypost_pending_requests')) === 1);
    leaving.destroy();
    await waitFor('queue empty after the client left', async () => (await metric(t, 'waypost_pending_requests')) === 0);
    expect((await first).status).toBe(200);
    // A later request finds the slot free at once: the departed one took nothing.
    expect((await request(t.port, { host: HOST, path: '/after' })).status).toBe(200);
    expect(backends[0]!.requests).toBe(2);
    expect(await metric(t, 'waypost_overload_rejections_total')).toBe(0);
  }, 30_000);
});

describe('concurrency and WebSocket upgrades', () => {
  it('upgrades are not limited, and open tunnels take no request slot', async () => {
    const ws = await startWsBackend('ws');
    const sockets: WebSocket[] = [];
    try {
      const t = await startPolicyApp(suite, { concurrency: { maxPerInstance: 1, maxPending: 0 } }, [{ port: ws.port }]);
      for (let i = 0; i < 3; i++) {
        const socket = new WebSocket(`ws://127.0.0.1:${t.port}/`, { headers: { host: HOST } });
        await new Promise<void>((resolve, reject) => {
          socket.once('open', () => resolve());
          socket.once('error', reject);
        });
        sockets.push(socket);
      }
      // With three tunnels open, a plain request still reaches the instance (a WebSocket server answers it 426).
      const reply = await request(t.port, { host: HOST, path: '/plain' });
      expect(reply.headers['x-waypost-error']).toBeUndefined();
      expect(reply.status).toBe(426);
    } finally {
      for (const socket of sockets) socket.terminate();
      await ws.close();
    }
  });
});
