import { describe, expect, it } from 'vitest';
import { compilePolicy, effectivePolicy } from '../../../src/policy/chain.js';
import { Metrics } from '../../../src/metrics.js';
import { routeConfig } from './edits-fixtures.js';

describe('the edit steps in the chain', () => {
  it('places redirect, cors, header edits, rewrite and compress in DESIGN §8 order', () => {
    const route = routeConfig({
      redirect: 'https',
      cors: { origins: ['*'] },
      requestHeaders: { set: { 'x-a': 'a', 'x-up': '{instance}' } },
      rewrite: { prefix: { from: '/a', to: '/b' } },
      responseHeaders: { remove: ['server'] },
      compress: {},
    });
    const policy = compilePolicy(effectivePolicy(route, {}), { routeId: 'route[0]', service: 'orders' }, { metrics: new Metrics() })!;
    expect(policy.request.map((step) => step.constructor.name)).toEqual(['HttpsRedirect', 'CorsPreflight', 'RequestHeaderEdits', 'PrefixRewrite']);
    expect(policy.attempt.map((step) => step.constructor.name)).toEqual(['AttemptHeaderEdits']);
    expect(policy.response.map((step) => step.constructor.name)).toEqual(['ResponseHeaderEdits', 'CorsResponse', 'Compress']);
  });

  it('runs nothing per attempt when no request header uses {instance}', () => {
    const route = routeConfig({ requestHeaders: { set: { 'x-a': '{host}' } } });
    const policy = compilePolicy(effectivePolicy(route, {}), { routeId: 'route[0]', service: 'orders' }, { metrics: new Metrics() })!;
    expect(policy.attempt).toEqual([]);
  });
});
