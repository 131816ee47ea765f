import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.js';
import { RoutePolicy, compilePolicy, effectivePolicy } from '../../../src/policy/chain.js';
import type { PolicyRequest, RequestStep } from '../../../src/policy/step.js';
import { Metrics } from '../../../src/metrics.js';

const request = {} as PolicyRequest;

function step(log: string[], name: string, result: boolean | 'async-true' | 'async-false'): RequestStep {
  return {
    run: () => {
      log.push(name);
      if (result === 'async-true') return Promise.resolve(true);
      if (result === 'async-false') return Promise.resolve(false);
      return result;
    },
  };
}

describe('RoutePolicy.admit', () => {
  it('runs every step in order and answers synchronously when no step waits', () => {
    const log: string[] = [];
    const policy = new RoutePolicy([step(log, 'a', true), step(log, 'b', true)], []);
    expect(policy.admit(request)).toBe(true);
    expect(log).toEqual(['a', 'b']);
  });

  it('stops at the first step that answered the request', () => {
    const log: string[] = [];
    const policy = new RoutePolicy([step(log, 'a', true), step(log, 'b', false), step(log, 'c', true)], []);
    expect(policy.admit(request)).toBe(false);
    expect(log).toEqual(['a', 'b']);
  });

  it('waits for a step that returns a promise, then runs the rest', async () => {
    const log: string[] = [];
    const policy = new RoutePolicy([step(log, 'a', 'async-true'), step(log, 'b', true)], []);
    const result = policy.admit(request);
    expect(result).toBeInstanceOf(Promise);
    expect(await result).toBe(true);
    expect(log).toEqual(['a', 'b']);
    const refusing = new RoutePolicy([step(log, 'c', 'async-false'), step(log, 'd', true)], []);
    expect(await refusing.admit(request)).toBe(false);
    expect(log).toEqual(['a', 'b', 'c']);
  });
});

describe('compilePolicy', () => {
  const deps = { metrics: new Metrics() };
  const route = { routeId: 'route[0]', service: 'orders' };

  it('builds nothing for a route without policy keys (it pays nothing per request)', () => {
    const config = configSchema.parse({ routes: [{ service: 'orders' }] });
    expect(compilePolicy(effectivePolicy(config.routes[0]!, config.defaults), route, deps)).toBeUndefined();
  });

  it("takes each key from the route, else from defaults, a route's key replacing the default's whole", () => {
    const config = configSchema.parse({
      defaults: { rateLimit: { rate: '10/s', key: 'client-ip' }, cors: { origins: ['*'] } },
      routes: [{ service: 'orders', rateLimit: { rate: '10/s', key: 'route' } }],
    });
    const merged = effectivePolicy(config.routes[0]!, config.defaults);
    expect(merged.rateLimit).toMatchObject({ key: 'route' });
    expect(merged.cors?.origins).toEqual(['*']);
    expect(compilePolicy(merged, route, deps)).toBeInstanceOf(RoutePolicy);
  });
});

describe('policy config', () => {
  it.each([
    [{ rateLimit: { rate: 'fast' } }, 'rateLimit.rate'],
    [{ rateLimit: { rate: '10/s', key: 'cookie:x' } }, 'rateLimit.key'],
    [{ retry: { budget: '120%' } }, 'retry.budget'],
    [{ retry: { on: [404] } }, 'retry.on.0'],
    [{ requestHeaders: { set: { 'x-a': 'a\r\nb' } } }, 'requestHeaders.set.x-a'],
    [{ auth: { copyHeaders: [] } }, 'auth'],
    [{ clientCidrs: { allow: ['10.0.0.0/33'] } }, 'clientCidrs.allow.0'],
  ])('refuses %j naming %s', (policy, field) => {
    const result = configSchema.safeParse({ routes: [{ service: 'orders', ...policy }] });
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((issue) => issue.path.join('.'))).toContain(`routes.0.${field}`);
  });

  it('refuses retries and retry on one route', () => {
    const result = configSchema.safeParse({ routes: [{ service: 'orders', retries: 1, retry: { attempts: 2 } }] });
    expect(result.success).toBe(false);
  });
});
