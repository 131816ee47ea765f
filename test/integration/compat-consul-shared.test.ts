/**
 * Consul checks with two proxies on one real Redis registry: whichever proxy a
 * client talks to, exactly one of them runs a service's checks (the one named in
 * the record), and both answer the same health.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../helpers/redis-server.js';
import { eventually, startCompat, type CompatHarness } from './compat-harness.js';

/** Statuses of a service's checks as one proxy answers them. */
async function checkStatuses(proxy: CompatHarness, service: string): Promise<string[]> {
  const reply = await proxy.call('GET', `/v1/health/service/${service}`);
  expect(reply.status).toBe(200);
  return (reply.body as { Checks: { Status: string }[] }[]).flatMap((entry) => entry.Checks.map((check) => check.Status));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Consul checks shared by two proxies on one Redis registry', () => {
  let redis: RedisServer;
  let a: CompatHarness;
  let b: CompatHarness;

  beforeAll(async () => {
    redis = await RedisServer.start();
    a = await startCompat({ redisUrl: redis.url });
    b = await startCompat({ redisUrl: redis.url });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  it('keeps a TTL check passing on both proxies while the passes go to the proxy that did not take the registration', async () => {
    const check = { CheckID: 'ledger-ttl', TTL: '1s' };
    const registered = await a.call('PUT', '/v1/agent/service/register', { json: { Name: 'ledger', ID: 'ledger-1', Address: '127.0.0.1', Port: 9200, Check: check } });
    expect(registered.status).toBe(200);
    expect((await a.call('PUT', '/v1/agent/check/pass/ledger-ttl')).status).toBe(200);

    // Then passes for two and a half TTLs, all sent to B (a load balancer in front of the proxies): the check must never turn critical anywhere.
    const until = Date.now() + 2500;
    while (Date.now() < until) {
      expect((await b.call('PUT', '/v1/agent/check/pass/ledger-ttl')).status).toBe(200);
      await sleep(150);
      expect(await checkStatuses(a, 'ledger')).toEqual(['passing']);
      expect(await checkStatuses(b, 'ledger')).toEqual(['passing']);
    }

    // Without passes it turns critical once, seen alike by both.
    await eventually(async () => (await checkStatuses(a, 'ledger'))[0] === 'critical', 5000, 'ledger turning critical on A');
    await eventually(async () => (await checkStatuses(b, 'ledger'))[0] === 'critical', 5000, 'ledger turning critical on B');
  });

  it('stays deregistered when deregistered at the proxy that no longer runs its checks', async () => {
    const check = { CheckID: 'journal-ttl', TTL: '300ms' };
    expect((await a.call('PUT', '/v1/agent/service/register', { json: { Name: 'journal', ID: 'journal-1', Address: '127.0.0.1', Port: 9300, Check: check } })).status).toBe(200);
    // B takes the check over with a pass; then A removes the service.
    expect((await b.call('PUT', '/v1/agent/check/pass/journal-ttl')).status).toBe(200);
    expect((await a.call('PUT', '/v1/agent/service/deregister/journal-1')).status).toBe(200);

    // Past the TTL, no proxy's check timer may write the record back.
    await sleep(900);
    expect((await a.store.getService('journal')).instances).toEqual([]);
    expect(await checkStatuses(b, 'journal')).toEqual([]);
  });
});
