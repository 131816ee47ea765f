import { describe, expect, it } from 'vitest';
import { createBalancer, isBalancerName, policies } from '../../../src/balancer/index.js';
import { HTTP_BALANCER_NAMES, TCP_BALANCER_NAMES } from '../../../src/balancer/policy.js';

describe('balancer policies', () => {
  it.each([...HTTP_BALANCER_NAMES, ...TCP_BALANCER_NAMES])('has a policy named %s', (name) => {
    expect(isBalancerName(name)).toBe(true);
    expect(createBalancer(name).name).toBe(name);
  });

  it('has no policy that no config name can select', () => {
    const names = new Set<string>([...HTTP_BALANCER_NAMES, ...TCP_BALANCER_NAMES]);
    expect(Object.keys(policies).filter((name) => !names.has(name))).toEqual([]);
  });

  it('keeps the policy name when wrapped in sticky', () => {
    expect(createBalancer('least-request', { sticky: {} }).name).toBe('least-request');
  });
});
