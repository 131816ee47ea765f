/**
 * RegistryClient against a real AdminServer (memory store + mirror) over real
 * HTTP: registration with heartbeats, lease loss, watch, blocking queries, errors.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RegistryClient, type ServiceView } from '../../src/client/index.js';
import { isWaypostError } from '../../src/errors.js';
import { deadPort } from '../helpers/ports.js';
import { startAdmin, type AdminHarness } from './admin-harness.js';
import { waitFor } from '../helpers/wait.js';

let admin: AdminHarness;
let client: RegistryClient;

beforeEach(async () => {
  admin = await startAdmin();
  client = new RegistryClient({ url: admin.base, backoff: { initialMs: 50, maxMs: 500 } });
});

afterEach(async () => {
  await client.close();
  await admin.close();
});

describe('RegistryClient registrations', () => {
  it('registers an instance that then appears in the service', async () => {
    const registration = client.register({ service: 'orders', host: '127.0.0.1', port: 3000, tags: ['v2'] });
    const record = await registration.ready;
    expect(record).toMatchObject({ service: 'orders', host: '127.0.0.1', port: 3000, status: 'UP', tags: ['v2'] });
    const view = await client.getService('orders');
    expect(view.instances.map((i) => i.id)).toEqual([record.id]);
    expect(view.instances[0]!.health).toBe('healthy');
  });

  it('keeps a 1 s lease alive through three TTLs by heartbeating', async () => {
    const registration = client.register({ service: 'orders', id: 'o-1', host: '127.0.0.1', port: 3000, ttl: 1 });
    let registered = 0;
    let lost = 0;
    registration.on('registered', () => (registered += 1));
    registration.on('lost', () => (lost += 1));
    await registration.ready;
    await new Promise((r) => setTimeout(r, 3300));
    expect((await admin.store.getService('orders')).instances.map((i) => i.id)).toEqual(['o-1']);
    expect({ registered, lost }).toEqual({ registered: 1, lost: 0 });
  });

  it('registers again with the same id when a heartbeat answers 404', async () => {
    const registration = client.register({ service: 'orders', host: '127.0.0.1', port: 3000, ttl: 1 });
    const first = await registration.ready;
    const lost: string[] = [];
    registration.on('lost', (reason) => lost.push(reason));
    const again = new Promise<string>((resolve) => registration.once('registered', (record) => resolve(record.id)));
    expect(await admin.store.deregister('orders', first.id)).toBe(true);
    expect(await again).toBe(first.id);
    expect(lost).toEqual(['the registry does not know the instance (lease expired or removed)']);
    expect((await admin.store.getService('orders')).instances.map((i) => i.id)).toEqual([first.id]);
  });

  it('sets the status, keeps it through a re-registration, and deregisters', async () => {
    const registration = client.register({ service: 'orders', id: 'o-1', host: '127.0.0.1', port: 3000, ttl: 1 });
    await registration.ready;
    await registration.setStatus('OUT_OF_SERVICE');
    expect((await client.getService('orders')).instances[0]).toMatchObject({ status: 'OUT_OF_SERVICE', health: 'unhealthy' });
    const again = new Promise<string>((resolve) => registration.once('registered', (record) => resolve(record.status)));
    await admin.store.deregister('orders', 'o-1');
    expect(await again).toBe('OUT_OF_SERVICE');
    expect(await registration.deregister()).toBe(true);
    expect((await client.getService('orders')).instances).toEqual([]);
    expect(registration.active).toBe(false);
  });

  it('rejects ready with the API error when the registration is invalid', async () => {
    const registration = client.register({ service: 'orders', host: '127.0.0.1', port: 0 });
    const err = await registration.ready.catch((e: unknown) => e);
    expect(isWaypostError(err, 'invalid')).toBe(true);
    expect(err).toMatchObject({ field: 'port', message: 'port must be an integer from 1 to 65535; got 0' });
    expect(registration.active).toBe(false);
  });

  it('sends the bearer token and reports unauthorized without it', async () => {
    const guarded = await startAdmin({ admin: { token: 's3cret' } });
    try {
      const withToken = new RegistryClient({ url: guarded.base, token: 's3cret' });
      const record = await withToken.registerInstance({ service: 'orders', host: '127.0.0.1', port: 3000 });
      expect(record.service).toBe('orders');
      const without = new RegistryClient({ url: guarded.base });
      const err = await without.registerInstance({ service: 'orders', host: '127.0.0.1', port: 3001 }).catch((e: unknown) => e);
      expect(isWaypostError(err, 'unauthorized')).toBe(true);
    } finally {
      await guarded.close();
    }
  });

  it('reports a wrong base path as not_found instead of reading it as an empty service or a lost lease', async () => {
    const wrong = new RegistryClient({ url: `${admin.base}/x` });
    const err = await wrong.getService('orders').catch((e: unknown) => e);
    expect(isWaypostError(err, 'not_found')).toBe(true);
    const gone = await wrong.deregister('orders', 'orders-1').catch((e: unknown) => e);
    expect(isWaypostError(gone, 'not_found')).toBe(true);
  });

  it('reports an unreachable registry as registry_unavailable', async () => {
    const port = await deadPort();
    const dead = new RegistryClient({ url: `http://127.0.0.1:${port}`, fetchTimeoutMs: 1000 });
    const err = await dead.getService('orders').catch((e: unknown) => e);
    expect(isWaypostError(err, 'registry_unavailable')).toBe(true);
    expect((err as Error).message).toBe(`registry at http://127.0.0.1:${port} is unreachable: ECONNREFUSED`);
  });
});

describe('RegistryClient discovery', () => {
  it('watch() sees a registration soon after it happens', async () => {
    const seen: ServiceView[] = [];
    let changedAt = 0;
    let seenAt = 0;
    const watch = client.watch('orders', (state) => {
      seen.push(state);
      if (state.instances.length > 0 && seenAt === 0) seenAt = performance.now();
    });
    try {
      await waitFor('the first watch callback', () => seen.length === 1);
      expect(seen[0]).toEqual({ name: 'orders', revision: 0, instances: [] });
      // Give the watch time to park its blocking query, then change the service.
      await new Promise((r) => setTimeout(r, 100));
      changedAt = performance.now();
      await admin.store.register({ service: 'orders', id: 'o-1', host: '127.0.0.1', port: 3000 });
      await waitFor('the watch to see o-1', () => seenAt > 0, { timeoutMs: 2000 });
      const latencyMs = seenAt - changedAt;
      console.log(`watch latency: ${latencyMs.toFixed(1)} ms`);
      expect(latencyMs).toBeLessThan(2000);
      expect(seen.at(-1)!.instances.map((i) => i.id)).toEqual(['o-1']);
    } finally {
      watch.close();
    }
  });

  it('a blocking query returns early on a change and on timeout with the same revision', async () => {
    await admin.store.register({ service: 'orders', id: 'o-1', host: '127.0.0.1', port: 3000 });
    const { revision } = await client.getService('orders');
    expect(revision).toBeGreaterThan(0);

    const started = performance.now();
    const timedOut = await client.waitForChange('orders', revision, 300);
    const waited = performance.now() - started;
    expect(timedOut.revision).toBe(revision);
    expect(waited).toBeGreaterThanOrEqual(250);
    expect(waited).toBeLessThan(5000);

    const parked = client.waitForChange('orders', revision, 30_000);
    await new Promise((r) => setTimeout(r, 50));
    const changeStarted = performance.now();
    await admin.store.setStatus('orders', 'o-1', 'DRAINING');
    const changed = await parked;
    expect(performance.now() - changeStarted).toBeLessThan(2000);
    expect(changed.revision).toBeGreaterThan(revision);
    expect(changed.instances[0]).toMatchObject({ id: 'o-1', status: 'DRAINING', health: 'draining' });

    // Already newer than the revision asked about: answered at once.
    expect((await client.waitForChange('orders', revision, 30_000)).revision).toBe(changed.revision);
  });

  it('lists services with counts', async () => {
    await admin.store.register({ service: 'orders', host: '127.0.0.1', port: 3000 });
    await admin.store.register({ service: 'users', host: '127.0.0.1', port: 3001, status: 'OUT_OF_SERVICE' });
    await waitFor('2 services listed', async () => (await client.listServices()).length === 2);
    expect(await client.listServices()).toEqual([
      { name: 'orders', instances: 1, healthy: 1 },
      { name: 'users', instances: 1, healthy: 0 },
    ]);
  });
});
