import { describe, expect, it } from 'vitest';
import { createConsistentHash } from '../../../src/balancer/consistent-hash.js';
import type { Endpoint } from '../../../src/endpoint.js';
import { configSchema } from '../../../src/config/schema.js';
import { endpointSet, idOf, pickContext, seededRandom } from '../../helpers/endpoints.js';

const KEYS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

function weightsOf(n: number): Record<string, number> {
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [`e${i}`, 100]));
}

describe('consistent hash', () => {
  it('sends the same key to the same endpoint', () => {
    const balancer = createConsistentHash({ hashKey: { header: 'x-user' } });
    const set = endpointSet(weightsOf(5));
    for (const key of KEYS.slice(0, 100)) {
      const ctx = pickContext({ headers: { 'x-user': key } });
      expect(balancer.pick(set, ctx)).toBe(balancer.pick(set, ctx));
    }
  });

  it('maps a key to the same endpoint in a rebuilt set with the same members', () => {
    const ctx = pickContext({ clientIp: '198.51.100.7' });
    const first = idOf(createConsistentHash().pick(endpointSet(weightsOf(5)), ctx));
    const second = idOf(createConsistentHash().pick(endpointSet(weightsOf(5)), ctx));
    expect(second).toBe(first);
  });

  it('remaps at most about 1/(n+1) of 10,000 keys when an endpoint is added', () => {
    const balancer = createConsistentHash({ hashKey: { cookie: 'session' } });
    const n = 9;
    const before = endpointSet(weightsOf(n));
    const after = endpointSet(weightsOf(n + 1));
    let moved = 0;
    for (const key of KEYS) {
      const ctx = pickContext({ cookies: { session: key } });
      const a = idOf(balancer.pick(before, ctx));
      const b = idOf(balancer.pick(after, ctx));
      if (a !== b) {
        moved += 1;
        expect(b).toBe(`e${n}`); // keys only move to the new endpoint
      }
    }
    expect(moved / KEYS.length).toBeLessThanOrEqual(1 / (n + 1) + 0.03);
    expect(moved).toBeGreaterThan(0);
  });

  it('spreads keys over endpoints roughly by weight', () => {
    const balancer = createConsistentHash();
    const set = endpointSet({ a: 100, b: 100, c: 200 });
    const counts: Record<string, number> = {};
    for (const key of KEYS) {
      const id = idOf(balancer.pick(set, pickContext({ clientIp: key })))!;
      counts[id] = (counts[id] ?? 0) + 1;
    }
    expect(counts.c! / KEYS.length).toBeGreaterThan(0.4);
    expect(counts.c! / KEYS.length).toBeLessThan(0.6);
  });

  it('falls back to the client IP when the configured header is missing', () => {
    const balancer = createConsistentHash({ hashKey: { header: 'x-user' } });
    const set = endpointSet(weightsOf(5));
    const byIp = balancer.pick(set, pickContext({ clientIp: '192.0.2.44' }));
    expect(balancer.pick(set, pickContext({ clientIp: '192.0.2.44', headers: {} }))).toBe(byIp);
  });

  it('moves keys off an endpoint loaded beyond 1.25 × the average (bounded load)', () => {
    const balancer = createConsistentHash();
    const idle = endpointSet(weightsOf(4));
    const home = new Map<string, Endpoint>();
    for (const key of KEYS.slice(0, 1000)) home.set(key, balancer.pick(idle, pickContext({ clientIp: key }))!);
    const hot = 'e0';
    // e0 has 20 in flight, the others 2 each: average 6.5, bound ≈ 1.25 × 7.5 ≈ 9.4.
    const loaded = endpointSet(weightsOf(4), { e0: 20, e1: 2, e2: 2, e3: 2 });
    let stayedOnHot = 0;
    let movedElsewhere = 0;
    for (const [key, endpoint] of home) {
      const picked = idOf(balancer.pick(loaded, pickContext({ clientIp: key })));
      if (endpoint.instance.id === hot) {
        if (picked === hot) stayedOnHot += 1;
        else movedElsewhere += 1;
      } else {
        expect(picked).toBe(endpoint.instance.id); // keys of endpoints under the bound stay put
      }
    }
    expect(stayedOnHot).toBe(0);
    expect(movedElsewhere).toBeGreaterThan(100);
  });

  describe('hashKey.clientIp', () => {
    const set = endpointSet(weightsOf(5));
    const endpointsHit = (balancer: ReturnType<typeof createConsistentHash>, headers: Record<string, string> = {}): Set<string> => {
      const hit = new Set<string>();
      // Many clients behind one address (a NAT, a front load balancer).
      for (let i = 0; i < 100; i++) hit.add(idOf(balancer.pick(set, pickContext({ clientIp: '203.0.113.5', headers })))!);
      return hit;
    };

    it('falls back to the client IP when the header is absent (clientIp true, the default)', () => {
      expect(endpointsHit(createConsistentHash({ hashKey: { header: 'x-user' } })).size).toBe(1);
      expect(endpointsHit(createConsistentHash({ hashKey: { header: 'x-user', clientIp: true } })).size).toBe(1);
    });

    it('spreads requests without the header when clientIp is false, instead of pinning one address', () => {
      const balancer = createConsistentHash({ hashKey: { header: 'x-user', clientIp: false }, random: seededRandom(7) });
      expect(endpointsHit(balancer).size).toBe(5);
      // A request that carries the key is still hashed.
      expect(endpointsHit(balancer, { 'x-user': 'alice' }).size).toBe(1);
    });

    it('is a config error to turn clientIp off with no header or cookie to hash', () => {
      const result = configSchema.safeParse({
        routes: [{ service: 'orders', balancer: 'consistent-hash', hashKey: { clientIp: false } }],
      });
      expect(result.success).toBe(false);
      const issue = result.error!.issues[0]!;
      expect(issue.path.join('.')).toBe('routes.0.hashKey');
      expect(issue.message).toMatch(/header or cookie/);
    });
  });
});
