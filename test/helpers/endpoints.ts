/**
 * Builders for balancer and routing tests: instance records, endpoint sets and
 * pick contexts from plain values, plus a seeded random source.
 */
import type { PickContext } from '../../src/balancer/policy.js';
import type { Endpoint, EndpointSet } from '../../src/endpoint.js';
import type { ServiceState } from '../../src/registry/store.js';
import type { InstanceRecord } from '../../src/types.js';

export function record(service: string, id: string, fields: Partial<InstanceRecord> = {}): InstanceRecord {
  return Object.freeze({
    id,
    service,
    host: '10.0.0.1',
    port: 8080,
    weight: 100,
    zone: '',
    tags: [],
    metadata: {},
    status: 'UP',
    protocol: 'http1',
    ttl: 30,
    registeredAt: '2026-01-01T00:00:00.000Z',
    leaseExpiresAt: '2026-01-01T00:00:30.000Z',
    ...fields,
  });
}

export function serviceState(name: string, instances: InstanceRecord[], revision = 1): ServiceState {
  return Object.freeze({ name, revision, instances: Object.freeze([...instances].sort((a, b) => (a.id < b.id ? -1 : 1))) });
}

/** Endpoints named by id with the given weights (and optional inflight counts). */
export function endpointSet(weights: Record<string, number>, inflight: Record<string, number> = {}): EndpointSet {
  const endpoints: Endpoint[] = Object.entries(weights).map(([id, weight], index) => ({
    key: `svc/${id}`,
    instance: record('svc', id, { weight, port: 8000 + index }),
    address: `10.0.0.1:${8000 + index}`,
    weight,
    stats: { inflight: inflight[id] ?? 0 },
  }));
  return Object.freeze({
    service: 'svc',
    endpoints: Object.freeze(endpoints),
    totalWeight: endpoints.reduce((sum, e) => sum + e.weight, 0),
    panic: false,
  });
}

export function idOf(endpoint: Endpoint | undefined): string | undefined {
  return endpoint?.instance.id;
}

export function pickContext(
  options: {
    clientIp?: string;
    headers?: Record<string, string>;
    cookies?: Record<string, string>;
    tried?: readonly Endpoint[];
  } = {},
): PickContext {
  return {
    clientIp: options.clientIp ?? '192.0.2.1',
    header: (name) => options.headers?.[name],
    cookie: (name) => options.cookies?.[name],
    ...(options.tried ? { tried: options.tried } : {}),
  };
}

/** mulberry32: a small seeded PRNG, so random policies are deterministic in tests. */
export function seededRandom(seed = 42): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Share of picks per endpoint id over `n` picks. */
export function shares(pick: () => Endpoint | undefined, n: number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const id = idOf(pick()) ?? 'none';
    counts[id] = (counts[id] ?? 0) + 1;
  }
  for (const id of Object.keys(counts)) counts[id] = counts[id]! / n;
  return counts;
}
