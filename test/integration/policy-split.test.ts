/**
 * Canary split by tag end to end: a whole Waypost (test/helpers/app.ts) over real
 * echo backends registered with tags. Split happens at the pick, the same for
 * every engine, so one engine runs here (the cookie is set on the exchange's head).
 */
import http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { startBackend, type Backend } from '../helpers/backends.js';
import { waitFor } from '../helpers/wait.js';

type SplitInput = NonNullable<ConfigInput['routes']>[number]['split'];

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

interface Served {
  backend: string;
  setCookie: string[] | undefined;
}

function get(port: number, headers: http.OutgoingHttpHeaders = {}): Promise<Served> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', headers: { host: 'shop.test', ...headers }, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ backend: String(res.headers['x-backend']), setCookie: res.headers['set-cookie'] }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Requests served per backend over `n` requests, 8 at a time. */
async function tally(port: number, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let sent = 0;
  const worker = async (): Promise<void> => {
    while (sent < n) {
      sent++;
      const { backend } = await get(port);
      counts[backend] = (counts[backend] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return counts;
}

describe('canary split by tag through the proxy', () => {
  const backends: Record<string, Backend> = {};
  let app: TestApp | undefined;

  beforeAll(async () => {
    for (const name of ['v2', 'v1a', 'v1b']) backends[name] = await startBackend({ name });
  });
  afterEach(async () => {
    await app?.stop();
    app = undefined;
  });
  afterAll(async () => {
    agent.destroy();
    await Promise.all(Object.values(backends).map((b) => b.close()));
  });

  async function start(split: SplitInput, instances: Record<string, string[]> = { v2: ['v2'], v1a: ['v1'], v1b: [] }): Promise<TestApp> {
    app = await startApp({ routes: [{ host: 'shop.test', service: 'shop', split }] });
    for (const [name, tags] of Object.entries(instances)) {
      await app.register({ service: 'shop', id: name, host: '127.0.0.1', port: backends[name]!.port, tags });
    }
    return app;
  }

  it('sends 5 % to the v2 group and 95 % to the rest over 4,000 requests (±2 points)', async () => {
    const { port } = await start([{ tags: ['v2'], weight: 5 }, { weight: 95 }]);
    const counts = await tally(port, 4000);
    const v2 = (counts.v2 ?? 0) / 4000;
    expect(v2).toBeGreaterThan(0.03);
    expect(v2).toBeLessThan(0.07);
    // Balanced inside the 95 % group.
    expect(counts.v1a! / 4000).toBeGreaterThan(0.4);
    expect(counts.v1b! / 4000).toBeGreaterThan(0.4);
  }, 180_000);

  it("gives an empty group's share to the others in proportion", async () => {
    const { port } = await start([{ tags: ['v3'], weight: 50 }, { tags: ['v2'], weight: 25 }, { weight: 25 }]);
    const counts = await tally(port, 1000);
    expect(counts.v2! / 1000).toBeGreaterThan(0.42);
    expect(counts.v2! / 1000).toBeLessThan(0.58);
  }, 120_000);

  it('holds a user on v2 with the sticky cookie across 50 requests', async () => {
    const { port } = await start({ groups: [{ tags: ['v2'], weight: 5 }, { weight: 95 }], sticky: { cookie: 'canary' } });
    const first = await waitFor('a request served by v2', async () => {
      const served = await get(port);
      return served.backend === 'v2' ? served : undefined;
    }, { timeoutMs: 60_000 });
    expect(first.setCookie).toEqual(['canary=v2; Path=/; HttpOnly; SameSite=Lax']);
    const cookie = first.setCookie![0]!.split(';')[0]!;
    for (let i = 0; i < 50; i++) {
      const served = await get(port, { cookie: `theme=dark; ${cookie}` });
      expect(served.backend).toBe('v2');
      expect(served.setCookie).toEqual(first.setCookie);
    }
    // The rest group's cookie holds its users there too.
    const rest = await get(port, { cookie: 'canary=*' });
    expect(rest.backend).not.toBe('v2');
    expect(rest.setCookie).toEqual(['canary=*; Path=/; HttpOnly; SameSite=Lax']);
  });

  it('sends each value of the sticky header to one group', async () => {
    const { port } = await start({ groups: [{ tags: ['v2'], weight: 50 }, { weight: 50 }], sticky: { header: 'x-user' } });
    const groups = new Set<string>();
    for (let user = 0; user < 20; user++) {
      const first = await get(port, { 'x-user': `user-${user}` });
      const onV2 = first.backend === 'v2';
      groups.add(onV2 ? 'v2' : 'rest');
      for (let i = 0; i < 5; i++) expect((await get(port, { 'x-user': `user-${user}` })).backend === 'v2').toBe(onV2);
    }
    expect(groups).toEqual(new Set(['v2', 'rest']));
  });

  it('moves instances between groups when their tags change on re-registration', async () => {
    const started = await start([{ tags: ['v2'], weight: 100 }, { weight: 0.001 }], { v2: ['v2'], v1a: [] });
    expect((await get(started.port)).backend).toBe('v2');
    // v1a becomes the canary, v2 leaves it.
    await started.register({ service: 'shop', id: 'v1a', host: '127.0.0.1', port: backends.v1a!.port, tags: ['v2'] });
    await started.register({ service: 'shop', id: 'v2', host: '127.0.0.1', port: backends.v2!.port, tags: [] });
    await waitFor('traffic on the re-tagged instance', async () => ((await get(started.port)).backend === 'v1a' ? true : undefined));
    const counts = await tally(started.port, 200);
    expect(counts.v1a! / 200).toBeGreaterThan(0.95);
  });
});
