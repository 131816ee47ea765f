import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { PassThrough } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { policyDefaultsSchema, type RateLimitConfig } from '../../../src/config/policy-schema.js';
import { Metrics } from '../../../src/metrics.js';
import { buildRateLimit, defaultBurst } from '../../../src/policy/rate-limit.js';
import { rateLimitPolicyValue } from '../../../src/policy/rate-limit-headers.js';
import { RateLimits } from '../../../src/policy/rate-limits.js';
import type { PolicyErrorCode, PolicyRequest } from '../../../src/policy/step.js';
import { TokenBuckets } from '../../../src/policy/token-buckets.js';

const route = { routeId: 'r1', service: 'orders' };

function limitConfig(input: Record<string, unknown>): RateLimitConfig {
  return policyDefaultsSchema.parse({ rateLimit: input }).rateLimit!;
}

interface Rejection {
  code: PolicyErrorCode;
  headers: OutgoingHttpHeaders;
}

function fakeRequest(clientIp: string, headers: IncomingHttpHeaders = {}): PolicyRequest & { rejections: Rejection[] } {
  const rejections: Rejection[] = [];
  return {
    clientIp,
    req: { headers },
    rejections,
    reject(code: PolicyErrorCode, h: OutgoingHttpHeaders = {}) {
      rejections.push({ code, headers: h });
    },
  } as unknown as PolicyRequest & { rejections: Rejection[] };
}

function limiter(input: Record<string, unknown>, clock: { t: number }, metrics = new Metrics({ processMetrics: false })) {
  const rateLimits = new RateLimits({ now: () => clock.t });
  return { steps: buildRateLimit(limitConfig(input), route, { metrics, rateLimits }), metrics, rateLimits };
}

describe('TokenBuckets (injected clock)', () => {
  it('admits a burst, then refills lazily at the rate', () => {
    const buckets = new TokenBuckets(10, 5, 100);
    let now = 0;
    const slot = buckets.slotOf('a', now);
    for (let i = 0; i < 5; i++) expect(buckets.take(slot, now)).toBe(true);
    expect(buckets.take(slot, now)).toBe(false);
    now += 99; // 0.99 token
    expect(buckets.take(slot, now)).toBe(false);
    now += 1;
    expect(buckets.take(slot, now)).toBe(true);
    expect(buckets.take(slot, now)).toBe(false);
    now += 10_000; // refills to the burst, never above
    expect(buckets.tokens(slot, now)).toBe(5);
  });

  it('says how long until the next token', () => {
    const buckets = new TokenBuckets(2, 1, 10);
    const slot = buckets.slotOf('a', 0);
    expect(buckets.take(slot, 0)).toBe(true);
    expect(buckets.msUntilToken(buckets.tokens(slot, 0))).toBe(500);
    expect(buckets.msUntilToken(buckets.tokens(slot, 250))).toBe(250);
  });

  it('keeps at most maxKeys buckets, forgetting ones not used since the hand passed', () => {
    const buckets = new TokenBuckets(1, 1, 3);
    for (const key of ['a', 'b', 'c']) buckets.take(buckets.slotOf(key, 0), 0);
    // All three were used: the hand clears their bits, comes round and evicts 'a'.
    buckets.slotOf('d', 0);
    expect(buckets.size).toBe(3);
    expect(buckets.find('a')).toBe(-1);
    expect(buckets.find('d')).not.toBe(-1);
    // Only 'd' is marked used now: the next newcomer evicts an unmarked key ('b'), never 'd'.
    buckets.slotOf('e', 0);
    expect(buckets.find('b')).toBe(-1);
    expect(buckets.find('d')).not.toBe(-1);
    expect(buckets.size).toBe(3);
  });

  it('a remembered key keeps its state; a forgotten one comes back with a full bucket', () => {
    const buckets = new TokenBuckets(1, 1, 2);
    expect(buckets.take(buckets.slotOf('a', 0), 0)).toBe(true);
    expect(buckets.take(buckets.slotOf('a', 0), 0)).toBe(false);
    buckets.slotOf('b', 0);
    buckets.slotOf('c', 0);
    buckets.slotOf('d', 0);
    expect(buckets.find('a')).toBe(-1);
    expect(buckets.take(buckets.slotOf('a', 0), 0)).toBe(true);
  });

  it('scales rate and size by the share of a shared limit and reconciles to the global count', () => {
    const buckets = new TokenBuckets(100, 100, 10, true);
    buckets.share = 0.5;
    const slot = buckets.slotOf('k', 0);
    expect(buckets.tokens(slot, 0)).toBe(50);
    for (let i = 0; i < 10; i++) buckets.take(slot, 0);
    const reported: [string, number][] = [];
    buckets.drainTouched((_slot, key, spent) => reported.push([key, spent]));
    expect(reported).toEqual([['k', 10]]);
    buckets.take(slot, 0); // admitted after the report was sent
    buckets.reconcile(slot, 'k', 30, 0); // Redis: 30 left globally → this proxy's half, less the one since
    expect(buckets.tokens(slot, 0)).toBe(14);
    expect(buckets.remaining(14)).toBe(28);
    // Refill at half the rate: 50 tokens/s.
    expect(buckets.tokens(slot, 100)).toBe(19);
  });
});

describe('rateLimit step', () => {
  it('normalises the rate and defaults the burst to one second of it (at least 1)', () => {
    expect(limitConfig({ rate: '600/m' }).rate).toBe(10);
    expect(defaultBurst(10)).toBe(10);
    expect(defaultBurst(0.5)).toBe(1);
    expect(defaultBurst(2.5)).toBe(3);
    expect(rateLimitPolicyValue(100, 100)).toBe('"default";q=100;w=1');
    expect(rateLimitPolicyValue(10 / 3600, 1)).toBe('"default";q=1;w=360');
  });

  it('answers 429 rate_limited with Retry-After and the RateLimit fields, and counts it', async () => {
    const clock = { t: 1000 };
    const { steps, metrics } = limiter({ rate: '2/s', burst: 2 }, clock);
    const request = fakeRequest('10.0.0.1');
    expect(steps.request.run(request)).toBe(true);
    expect(steps.request.run(request)).toBe(true);
    expect(steps.request.run(request)).toBe(false);
    expect(request.rejections).toEqual([
      {
        code: 'rate_limited',
        headers: { 'retry-after': '1', 'ratelimit-policy': '"default";q=2;w=1', ratelimit: '"default";r=0;t=1' },
      },
    ]);
    const text = await metrics.registry.metrics();
    expect(text).toContain('waypost_rate_limited_total{service="orders"} 1');
  });

  it('Retry-After is whole seconds rounded up', () => {
    const clock = { t: 0 };
    const { steps } = limiter({ rate: '6/m', burst: 1 }, clock);
    const request = fakeRequest('10.0.0.1');
    steps.request.run(request);
    clock.t += 2500;
    steps.request.run(request);
    expect(request.rejections[0]!.headers['retry-after']).toBe('8'); // 7.5 s left
  });

  it('puts RateLimit and RateLimit-Policy on admitted answers, without creating buckets', () => {
    const clock = { t: 0 };
    const { steps } = limiter({ rate: '10/s', burst: 10 }, clock);
    const request = fakeRequest('10.0.0.1');
    for (let i = 0; i < 4; i++) steps.request.run(request);
    const head: string[] = ['content-type', 'text/plain'];
    const sink = new PassThrough();
    expect(steps.response.onHead(request, 200, head, sink)).toBe(sink);
    expect(head).toEqual(['content-type', 'text/plain', 'ratelimit-policy', '"default";q=10;w=1', 'ratelimit', '"default";r=6;t=1']);
    const unknown: string[] = [];
    steps.response.onHead(fakeRequest('10.9.9.9'), 200, unknown, sink);
    expect(unknown).toEqual(['ratelimit-policy', '"default";q=10;w=1', 'ratelimit', '"default";r=10;t=0']);
  });

  it('keys by client address, by header (missing = one "no value" bucket), or by route', () => {
    const clock = { t: 0 };
    const byIp = limiter({ rate: '1/s', key: 'client-ip' }, clock).steps.request;
    expect(byIp.run(fakeRequest('10.0.0.1'))).toBe(true);
    expect(byIp.run(fakeRequest('10.0.0.2'))).toBe(true);
    expect(byIp.run(fakeRequest('10.0.0.1'))).toBe(false);

    const byHeader = limiter({ rate: '1/s', key: 'header:X-Api-Key' }, clock).steps.request;
    expect(byHeader.run(fakeRequest('10.0.0.1', { 'x-api-key': 'a' }))).toBe(true);
    expect(byHeader.run(fakeRequest('10.0.0.1', { 'x-api-key': 'b' }))).toBe(true);
    expect(byHeader.run(fakeRequest('10.0.0.1'))).toBe(true);
    expect(byHeader.run(fakeRequest('10.0.0.2'))).toBe(false); // no header: the same "no value" bucket
    expect(byHeader.run(fakeRequest('10.0.0.1', { 'x-api-key': 'a' }))).toBe(false);
    const long = 'x'.repeat(10_000);
    expect(byHeader.run(fakeRequest('10.0.0.1', { 'x-api-key': long }))).toBe(true);
    expect(byHeader.run(fakeRequest('10.0.0.1', { 'x-api-key': long }))).toBe(false);

    const byRoute = limiter({ rate: '1/s', key: 'route' }, clock).steps.request;
    expect(byRoute.run(fakeRequest('10.0.0.1'))).toBe(true);
    expect(byRoute.run(fakeRequest('10.0.0.2'))).toBe(false);
  });

  it('keeps buckets across route-table rebuilds while the limit is unchanged', () => {
    const clock = { t: 0 };
    const metrics = new Metrics({ processMetrics: false });
    const rateLimits = new RateLimits({ now: () => clock.t });
    const build = (rate: string) => buildRateLimit(limitConfig({ rate, burst: 1 }), route, { metrics, rateLimits }).request;
    expect(build('1/s').run(fakeRequest('10.0.0.1'))).toBe(true);
    expect(build('1/s').run(fakeRequest('10.0.0.1'))).toBe(false);
    expect(build('2/s').run(fakeRequest('10.0.0.1'))).toBe(true);
  });

  it('keeps buckets under the route\'s stable id, not its label: a config route another route displaced keeps them', () => {
    const clock = { t: 0 };
    const metrics = new Metrics({ processMetrics: false });
    const rateLimits = new RateLimits({ now: () => clock.t });
    const build = (routeId: string, stableId: string) =>
      buildRateLimit(limitConfig({ rate: '1/s', burst: 1 }), { routeId, service: 'orders', stableId }, { metrics, rateLimits }).request;
    expect(build('route[0]', 'config:a').run(fakeRequest('10.0.0.1'))).toBe(true);
    // After a reload that inserted a route first, the same route is route[1] and another one is route[0].
    expect(build('route[1]', 'config:a').run(fakeRequest('10.0.0.1'))).toBe(false);
    expect(build('route[0]', 'config:new').run(fakeRequest('10.0.0.1'))).toBe(true);
    expect(rateLimits.keys({ routeId: 'route[1]', service: 'orders', stableId: 'config:a' })).toBe(1);
    // Without a stable id (API routes, tests) the label is the id.
    expect(rateLimits.keys({ routeId: 'config:new', service: 'orders' })).toBe(1);
  });

  it('memory stays flat under 100k distinct client addresses (maxKeys bounds the buckets)', () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const heap = (): number => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };
    const clock = { t: 0 };
    const { steps } = limiter({ rate: '10/s', maxKeys: 100_000 }, clock);
    const run = (from: number, count: number): void => {
      for (let i = from; i < from + count; i++) {
        clock.t += 0.01;
        steps.request.run(fakeRequest(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`));
      }
    };
    const before = heap();
    run(0, 100_000);
    const at100k = heap();
    run(100_000, 300_000);
    const at400k = heap();
    const perKey = (at100k - before) / 100_000;
    console.log(
      `rate-limit memory: ${((at100k - before) / 2 ** 20).toFixed(1)} MiB for 100k keys (${perKey.toFixed(0)} B/key); ` +
        `+${((at400k - at100k) / 2 ** 20).toFixed(1)} MiB after 300k more distinct keys`,
    );
    expect(at100k - before).toBeLessThan(40 * 2 ** 20);
    expect(at400k - at100k).toBeLessThan(Math.max(4 * 2 ** 20, (at100k - before) * 0.25));
  });
});
