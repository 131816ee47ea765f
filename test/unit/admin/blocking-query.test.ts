import { afterEach, describe, expect, it } from 'vitest';
import { BlockingQueries, DEFAULT_WAIT_TIMEOUT_MS, MAX_WAIT_TIMEOUT_MS, parseBlockingQuery } from '../../../src/admin/blocking-query.js';
import { isWaypostError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log.js';
import { RegistryMirror } from '../../../src/mirror/mirror.js';
import { MemoryStore } from '../../../src/registry/memory-store.js';
import { waitFor } from '../../helpers/wait.js';

describe('parseBlockingQuery', () => {
  const parse = (query: string): unknown => {
    try {
      return parseBlockingQuery(new URLSearchParams(query));
    } catch (err) {
      if (!isWaypostError(err, 'invalid')) throw err;
      return `${err.field}: ${err.message}`;
    }
  };
  const cases: { name: string; query: string; expected: unknown }[] = [
    { name: 'reads a query without wait as a plain read', query: '', expected: undefined },
    { name: 'waits the default time when only wait is given', query: 'wait=7', expected: { afterRevision: 7, timeoutMs: DEFAULT_WAIT_TIMEOUT_MS } },
    { name: 'takes the timeout as a duration', query: 'wait=0&timeout=250ms', expected: { afterRevision: 0, timeoutMs: 250 } },
    { name: 'cuts a timeout longer than the maximum instead of refusing it', query: 'wait=3&timeout=1h', expected: { afterRevision: 3, timeoutMs: MAX_WAIT_TIMEOUT_MS } },
    { name: 'refuses a timeout without wait', query: 'timeout=5s', expected: 'timeout: timeout is only valid together with wait=REVISION' },
    { name: 'refuses a negative revision', query: 'wait=-1', expected: 'wait: wait must be a revision: a non-negative integer; got "-1"' },
    { name: 'refuses a revision that is not an integer', query: 'wait=1.5', expected: 'wait: wait must be a revision: a non-negative integer; got "1.5"' },
    { name: 'refuses a revision too long to be exact', query: 'wait=1234567890123456', expected: 'wait: wait must be a revision: a non-negative integer; got "1234567890123456"' },
    { name: 'refuses a timeout that is not a duration', query: 'wait=1&timeout=soon', expected: 'timeout: timeout must be a duration like 500ms, 30s or 5m; got "soon"' },
  ];
  it.each(cases)('$name', ({ query, expected }) => {
    expect(parse(query)).toEqual(expected);
  });
});

describe('BlockingQueries', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(maxWaiters: number): Promise<{ store: MemoryStore; queries: BlockingQueries }> {
    const store = new MemoryStore();
    await store.start();
    const mirror = new RegistryMirror({ store, logger: silentLogger });
    await mirror.start();
    const queries = new BlockingQueries(mirror, maxWaiters);
    cleanups.push(() => store.close(), () => mirror.close(), () => queries.releaseAll());
    return { store, queries };
  }
  const stay = new AbortController().signal;

  it('answers at once when the service changed after the revision asked about', async () => {
    const { store, queries } = await setup(1);
    await store.register({ service: 'orders', id: 'a', host: '10.0.0.1', port: 80 });
    await waitFor('the mirror to hold orders', async () => (await queries.wait('orders', { afterRevision: 0, timeoutMs: 0 }, stay)).revision === 1);
    const state = await queries.wait('orders', { afterRevision: 0, timeoutMs: 60_000 }, stay);
    expect(state.instances.map((i) => i.id)).toEqual(['a']);
    expect(queries.parked).toBe(0);
  });

  it('parks until the service changes and counts the parked request meanwhile', async () => {
    const { store, queries } = await setup(1);
    const answer = queries.wait('orders', { afterRevision: 0, timeoutMs: 60_000 }, stay);
    expect(queries.parked).toBe(1);
    await store.register({ service: 'orders', id: 'a', host: '10.0.0.1', port: 80 });
    expect((await answer).revision).toBe(1);
    expect(queries.parked).toBe(0);
  });

  it('refuses to park beyond maxWaiters with limit_exceeded, and frees the slot of a client that leaves', async () => {
    const { queries } = await setup(1);
    const leaving = new AbortController();
    const first = queries.wait('orders', { afterRevision: 0, timeoutMs: 60_000 }, leaving.signal);
    const refused = await queries.wait('orders', { afterRevision: 0, timeoutMs: 60_000 }, stay).catch((err: unknown) => err);
    expect(isWaypostError(refused, 'limit_exceeded')).toBe(true);
    expect((refused as Error).message).toBe('too many blocking queries are parked (admin.maxWaiters is 1); retry later');
    leaving.abort();
    expect(await first).toEqual({ name: 'orders', revision: 0, instances: [] });
    expect(queries.parked).toBe(0);
  });

  it('answers every parked request on releaseAll, and later ones at once', async () => {
    const { queries } = await setup(2);
    const parked = [
      queries.wait('orders', { afterRevision: 0, timeoutMs: 60_000 }, stay),
      queries.waitForAnyChange({ afterRevision: 0, timeoutMs: 60_000 }, stay),
    ];
    expect(queries.parked).toBe(2);
    queries.releaseAll();
    await Promise.all(parked);
    expect(queries.parked).toBe(0);
    await queries.wait('orders', { afterRevision: 0, timeoutMs: 60_000 }, stay);
    expect(queries.parked).toBe(0);
  });

  it('waits for any registry change after the revision for a catalog-wide query', async () => {
    const { store, queries } = await setup(1);
    const anyChange = queries.waitForAnyChange({ afterRevision: 0, timeoutMs: 60_000 }, stay);
    expect(queries.parked).toBe(1);
    await store.register({ service: 'billing', id: 'b', host: '10.0.0.1', port: 80 });
    await anyChange;
    expect(queries.parked).toBe(0);
  });
});
