import { describe, expect, it } from 'vitest';
import { createBalancer } from '../../../src/balancer/index.js';
import { configSchema } from '../../../src/config/schema.js';
import type { Endpoint, EndpointSet } from '../../../src/endpoint.js';
import { affinityToken } from '../../../src/balancer/sticky.js';
import { ManualClock } from '../../../src/clock.js';
import { EndpointSets } from '../../../src/health/endpoint-sets.js';
import { EndpointPool } from '../../../src/health/state.js';
import { SplitPicker } from '../../../src/policy/split.js';
import { RouteTable } from '../../../src/routing/table.js';
import { idOf, pickContext, record, seededRandom, serviceState, shares } from '../../helpers/endpoints.js';

/** Endpoints named by id, each with its tags. */
function taggedSet(tags: Record<string, string[]>): EndpointSet {
  const endpoints: Endpoint[] = Object.entries(tags).map(([id, t], index) => ({
    key: `svc/${id}`,
    instance: record('svc', id, { tags: t, port: 8000 + index }),
    address: `10.0.0.1:${8000 + index}`,
    weight: 100,
    stats: { inflight: 0 },
  }));
  return Object.freeze({ service: 'svc', endpoints: Object.freeze(endpoints), totalWeight: 100 * endpoints.length, panic: false });
}

/** The split key as the config schema leaves it. */
function splitConfig(split: unknown) {
  return configSchema.parse({ routes: [{ service: 'svc', split }] }).routes[0]!.split!;
}

const canary = splitConfig([{ tags: ['v2'], weight: 5 }, { weight: 95 }]);

describe('SplitPicker', () => {
  it('divides traffic 5/95 between the tag group and the rest', () => {
    const set = taggedSet({ a: ['v2'], b: [], c: ['v1'], d: [] });
    const picker = new SplitPicker(canary, seededRandom(7));
    const balancer = createBalancer('round-robin', { random: seededRandom(1) });
    const got = shares(() => picker.pick(set, pickContext(), balancer), 20_000);
    expect(got.a!).toBeGreaterThan(0.04);
    expect(got.a!).toBeLessThan(0.06);
    // Inside the 95 % group the balancer spreads evenly.
    for (const id of ['b', 'c', 'd']) expect(got[id]!).toBeCloseTo(0.95 / 3, 1);
  });

  it("gives an empty group's share to the others in proportion to their weights", () => {
    const config = splitConfig([{ tags: ['v3'], weight: 50 }, { tags: ['v2'], weight: 10 }, { weight: 30 }]);
    const set = taggedSet({ a: ['v2'], b: [] });
    const picker = new SplitPicker(config, seededRandom(3));
    const got = shares(() => picker.pick(set, pickContext(), createBalancer('random', { random: seededRandom(4) })), 20_000);
    expect(got.a!).toBeCloseTo(0.25, 1.5);
    expect(got.b!).toBeCloseTo(0.75, 1.5);
    expect(got.none).toBeUndefined();
  });

  it('puts an instance in the first group whose tags it all carries; untagged groups take the rest', () => {
    const config = splitConfig([{ tags: ['v2', 'eu'], weight: 1 }, { tags: ['v2'], weight: 1 }, { weight: 1 }]);
    const set = taggedSet({ both: ['eu', 'v2'], v2: ['v2'], eu: ['eu'], none: [] });
    const picker = new SplitPicker(config, seededRandom());
    const balancer = createBalancer('random');
    for (let i = 0; i < 200; i++) picker.pick(set, pickContext(), balancer);
    const [both, v2, eu, none] = set.endpoints;
    expect([both, v2, eu, none].map((e) => picker.groupOf(e!))).toEqual([0, 1, 2, 2]);
  });

  it('leaves out instances no group takes when every group has tags', () => {
    const config = splitConfig([{ tags: ['v2'], weight: 1 }, { tags: ['v1'], weight: 1 }]);
    const set = taggedSet({ a: ['v2'], b: ['v1'], stray: [] });
    const picker = new SplitPicker(config, seededRandom());
    const got = shares(() => picker.pick(set, pickContext(), createBalancer('random')), 2000);
    expect(got.stray).toBeUndefined();
  });

  it('computes the groups once per endpoint set, and again for a new set (tags changed on re-registration)', () => {
    const picker = new SplitPicker(canary, seededRandom());
    const balancer = createBalancer('round-robin');
    const before = taggedSet({ a: ['v2'], b: [] });
    picker.pick(before, pickContext(), balancer);
    expect(picker.groupOf(before.endpoints[0]!)).toBe(0);
    // `a` re-registered without v2, `b` with it: a new set, new groups.
    const after = taggedSet({ a: [], b: ['v2'] });
    const got = shares(() => picker.pick(after, pickContext(), balancer), 4000);
    expect(picker.groupOf(after.endpoints[0]!)).toBe(1);
    expect(picker.groupOf(after.endpoints[1]!)).toBe(0);
    expect(got.b!).toBeLessThan(0.1);
  });

  it('with sticky.cookie honours the cookie while its group has instances and weight, and names the group in Set-Cookie', () => {
    const config = splitConfig({ groups: [{ tags: ['v2'], weight: 5 }, { weight: 95 }], sticky: { cookie: 'canary' } });
    const picker = new SplitPicker(config, seededRandom());
    const balancer = createBalancer('round-robin');
    const set = taggedSet({ a: ['v2'], b: [] });
    for (let i = 0; i < 50; i++) expect(idOf(picker.pick(set, pickContext({ cookies: { canary: 'v2' } }), balancer))).toBe('a');
    const cookies: string[] = [];
    picker.onResponse(set.endpoints[0]!, (_name, value) => cookies.push(value));
    expect(cookies).toEqual(['canary=v2; Path=/; HttpOnly; SameSite=Lax']);
    picker.onResponse(set.endpoints[1]!, (_name, value) => cookies.push(value));
    expect(cookies[1]).toBe('canary=*; Path=/; HttpOnly; SameSite=Lax');
    // The v2 group emptied: the cookie no longer holds.
    const withoutV2 = taggedSet({ b: [] });
    expect(idOf(picker.pick(withoutV2, pickContext({ cookies: { canary: 'v2' } }), balancer))).toBe('b');
    // An unknown value is ignored.
    expect(shares(() => picker.pick(set, pickContext({ cookies: { canary: 'zzz' } }), balancer), 2000).b!).toBeGreaterThan(0.9);
  });

  it('does not hold a cookie naming a group whose weight was set to 0 (a rolled-back canary)', () => {
    const config = splitConfig({ groups: [{ tags: ['v2'], weight: 0 }, { weight: 100 }], sticky: { cookie: 'canary' } });
    const picker = new SplitPicker(config, seededRandom());
    const set = taggedSet({ a: ['v2'], b: [] });
    for (let i = 0; i < 20; i++) expect(idOf(picker.pick(set, pickContext({ cookies: { canary: 'v2' } }), createBalancer('random')))).toBe('b');
  });

  it('with sticky.header sends each header value to one group, values spread by weight', () => {
    const config = splitConfig({ groups: [{ tags: ['v2'], weight: 50 }, { weight: 50 }], sticky: { header: 'x-user' } });
    const picker = new SplitPicker(config, seededRandom());
    const balancer = createBalancer('round-robin');
    const set = taggedSet({ a: ['v2'], b: [] });
    const groups = new Map<string, string | undefined>();
    for (let user = 0; user < 200; user++) groups.set(`user-${user}`, idOf(picker.pick(set, pickContext({ headers: { 'x-user': `user-${user}` } }), balancer)));
    for (let round = 0; round < 3; round++) {
      for (const [user, id] of groups) expect(idOf(picker.pick(set, pickContext({ headers: { 'x-user': user } }), balancer))).toBe(id);
    }
    const onV2 = [...groups.values()].filter((id) => id === 'a').length;
    expect(onV2).toBeGreaterThan(60);
    expect(onV2).toBeLessThan(140);
  });

  it('keeps a retry in the first attempt’s group while it has an untried instance, then falls back', () => {
    const config = splitConfig([{ tags: ['v2'], weight: 100 }, { weight: 0.0001 }]);
    const picker = new SplitPicker(config, seededRandom());
    const balancer = createBalancer('round-robin');
    const set = taggedSet({ a: ['v2'], b: ['v2'], c: [] });
    const first = picker.pick(set, pickContext(), balancer)!;
    expect(['a', 'b']).toContain(idOf(first));
    const second = picker.pick(set, pickContext({ tried: [first] }), balancer)!;
    expect(['a', 'b']).toContain(idOf(second));
    expect(idOf(second)).not.toBe(idOf(first));
    expect(idOf(picker.pick(set, pickContext({ tried: [first, second] }), balancer))).toBe('c');
  });

  it('serves from every instance when no group with weight has instances', () => {
    const config = splitConfig([{ tags: ['v2'], weight: 100 }, { weight: 0 }]);
    const picker = new SplitPicker(config, seededRandom());
    const set = taggedSet({ a: [], b: [] });
    expect(['a', 'b']).toContain(idOf(picker.pick(set, pickContext(), createBalancer('random'))));
  });
});

describe('split config', () => {
  it('refuses groups without any weight, empty sticky and bad cookie names, naming the field', () => {
    const issues = (split: unknown) => {
      const result = configSchema.safeParse({ routes: [{ service: 'svc', split }] });
      return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(issues([{ tags: ['v2'], weight: 0 }])).not.toEqual([]);
    expect(issues({ groups: [{ weight: 1 }], sticky: {} }).join()).toMatch(/sticky/);
    expect(issues({ groups: [{ weight: 1 }], sticky: { cookie: 'a b' } }).join()).toMatch(/cookie/);
    expect(issues([{ tags: ['v2'], weight: 101 }]).join()).toMatch(/weight/);
    expect(issues({ groups: [{ tags: ['v2'], weight: 5 }, { weight: 95 }], sticky: { cookie: 'canary', header: 'X-User' } })).toEqual([]);
  });
});

describe('split in the route table', () => {
  function table(split: unknown, sticky?: boolean) {
    const config = configSchema.parse({ routes: [{ host: 'shop.test', service: 'shop', split, ...(sticky ? { sticky } : {}) }] });
    const state = serviceState('shop', [record('shop', 'canary', { tags: ['v2'], port: 1 }), record('shop', 'stable', { port: 2 })]);
    const clock = new ManualClock();
    const endpointSets = new EndpointSets({ pool: new EndpointPool(clock), clock, panicThreshold: 0 });
    return new RouteTable({ config, services: new Map([['shop', state]]), endpointSets, balancerOptions: { random: seededRandom(9) } });
  }

  it('picks through the tag groups and needs no request step', () => {
    const router = table([{ tags: ['v2'], weight: 10 }, { weight: 90 }]);
    const match = router.match('shop.test', '/', () => undefined)!;
    expect(match.policy?.request).toEqual([]);
    expect(match.policy?.split).toBeInstanceOf(SplitPicker);
    expect(match.onResponse).toBeUndefined();
    const got = shares(() => match.pick(pickContext()), 5000);
    expect(got.canary!).toBeGreaterThan(0.07);
    expect(got.canary!).toBeLessThan(0.13);
  });

  it('sets the group cookie on responses, beside the instance affinity cookie of a sticky route', () => {
    const router = table({ groups: [{ tags: ['v2'], weight: 10 }, { weight: 90 }], sticky: { cookie: 'canary' } }, true);
    const match = router.match('shop.test', '/', () => undefined)!;
    const endpoint = match.pick(pickContext({ cookies: { canary: 'v2' } }))!;
    expect(idOf(endpoint)).toBe('canary');
    const cookies: string[] = [];
    match.onResponse!(endpoint, (_name, value) => cookies.push(value.split(';')[0]!));
    expect(cookies).toEqual([`waypost_affinity=${affinityToken(endpoint.key)}`, 'canary=v2']);
  });
});
