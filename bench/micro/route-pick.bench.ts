/**
 * Micro benchmark of the request path's routing half: Router.match + pick, and
 * the cost of one registry change (a forService rebuild), at 100 and 10,000
 * services × 20 instances, for every HTTP balancer, and a mirror applying one change end to
 * end. Run: `npx tsx bench/micro/route-pick.bench.ts`.
 * Prints ns/op; each iteration routes a different service (fresh input), so
 * cache effects are those of a real mixed workload.
 */
import { EndpointSets } from '../../src/health/endpoint-sets.js';
import { HTTP_BALANCER_NAMES, type HttpBalancerName, type PickContext } from '../../src/balancer/policy.js';
import { systemClock } from '../../src/clock.js';
import { configSchema } from '../../src/config/schema.js';
import { EndpointPool } from '../../src/health/state.js';
import { silentLogger } from '../../src/log.js';
import { RegistryMirror } from '../../src/mirror/mirror.js';
import { MemoryStore } from '../../src/registry/memory-store.js';
import type { ServiceState } from '../../src/registry/store.js';
import { RouteTable } from '../../src/routing/table.js';
import type { InstanceRecord } from '../../src/types.js';

const INSTANCES = 20;

function instance(service: string, i: number): InstanceRecord {
  return Object.freeze({
    id: `${service}-${i}`,
    service,
    host: `10.0.${i}.1`,
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
  } as const);
}

function state(name: string, revision: number): ServiceState {
  return Object.freeze({
    name,
    revision,
    instances: Object.freeze(Array.from({ length: INSTANCES }, (_, i) => instance(name, i))),
  });
}

const ctx: PickContext = { clientIp: '192.0.2.1', header: () => undefined, cookie: () => undefined };
const noHeaders = () => undefined;

function measure(label: string, iterations: number, body: (i: number) => void, warmup = true): number {
  if (warmup) for (let i = 0; i < Math.min(iterations, 20_000); i++) body(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) body(i);
  const ns = Number(process.hrtime.bigint() - start) / iterations;
  console.log(`${label.padEnd(58)} ${ns.toFixed(0).padStart(8)} ns/op`);
  return ns;
}

function run(serviceCount: number, balancer: HttpBalancerName): void {
  const names = Array.from({ length: serviceCount }, (_, i) => `svc-${i}`);
  const services = new Map(names.map((n) => [n, state(n, 1)]));
  const config = configSchema.parse({
    balancer,
    routes: [{ host: 'api.example.com', path: '/orders', service: 'svc-0', stripPrefix: true }],
  });
  const endpointSets = new EndpointSets({ pool: new EndpointPool(systemClock), panicThreshold: 0.5 });
  const router = new RouteTable({ config, services, endpointSets });
  const hosts = names.map((n) => `${n}.localhost`);
  for (const n of names) endpointSets.forService(services.get(n)!); // first build outside the timing

  const tag = `${serviceCount} svc × ${INSTANCES}, ${balancer}`;
  measure(`match + pick, convention host (${tag})`, 1_000_000, (i) => {
    const match = router.match(hosts[i % serviceCount]!, '/x?y=1', noHeaders)!;
    match.pick(ctx);
  });
  measure(`match + pick, config route with strip (${tag})`, 1_000_000, () => {
    router.match('api.example.com', '/orders/1?y=1', noHeaders)!.pick(ctx);
  });
  // The mirror builds each new ServiceState; here two prebuilt states per service
  // alternate (a new object each time, as after a change), so only the rebuild is timed.
  const alternates = names.map((n) => [state(n, 2), state(n, 3)] as const);
  measure(`forService rebuild after one change (${tag})`, 100_000, (i) => {
    endpointSets.forService(alternates[i % serviceCount]![(Math.floor(i / serviceCount) + i) & 1]!);
  });
}

/**
 * Snapshot apply end to end: a status change written to a memory store holding 10,000 services
 * × 20 instances, until the mirror has swapped in the service's new state (listener called).
 */
async function mirrorApply(serviceCount: number): Promise<void> {
  const store = new MemoryStore({ defaultTtlSeconds: 3600 });
  await store.start();
  for (let s = 0; s < serviceCount; s++) {
    for (let i = 0; i < INSTANCES; i++) await store.register({ service: `svc-${s}`, id: `i-${i}`, host: '10.0.0.1', port: 8080 + i });
  }
  const mirror = new RegistryMirror({ store, logger: silentLogger });
  await mirror.start();
  let applied: (() => void) | undefined;
  mirror.onChange(() => applied?.());
  const samples: number[] = [];
  for (let n = 0; n < 2_000; n++) {
    const service = `svc-${(n * 7919) % serviceCount}`;
    const done = new Promise<void>((resolve) => (applied = resolve));
    const start = process.hrtime.bigint();
    // Each block of serviceCount writes touches every service once (7919 is prime); blocks alternate the status.
    await store.setStatus(service, 'i-0', Math.floor(n / serviceCount) % 2 === 0 ? 'OUT_OF_SERVICE' : 'UP');
    await done;
    samples.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  samples.sort((a, b) => a - b);
  const p = (q: number) => samples[Math.floor(q * (samples.length - 1))]!.toFixed(1);
  console.log(`${`mirror apply, write → new state (${serviceCount} svc × ${INSTANCES}, memory store)`.padEnd(58)} p50 ${p(0.5)} µs, p99 ${p(0.99)} µs`);
  mirror.close();
  await store.close();
}

for (const count of [100, 10_000]) run(count, 'round-robin');
for (const balancer of HTTP_BALANCER_NAMES) if (balancer !== 'round-robin') run(10_000, balancer);
await mirrorApply(100);
await mirrorApply(10_000);
