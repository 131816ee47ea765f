import { describe, expect, it } from 'vitest';
import { describeChanges, refuseRestartOnlyChanges, RESTART_ONLY_FIELDS } from '../../src/config/reload.js';
import { configSchema, type ConfigInput, type WaypostConfig } from '../../src/config/schema.js';
import { WaypostError } from '../../src/errors.js';

const config = (input: Partial<ConfigInput> = {}): WaypostConfig => configSchema.parse(input);

function refusal(current: WaypostConfig, next: WaypostConfig): WaypostError | undefined {
  try {
    refuseRestartOnlyChanges(current, next);
    return undefined;
  } catch (err) {
    if (err instanceof WaypostError) return err;
    throw err;
  }
}

describe('refuseRestartOnlyChanges', () => {
  const cases: Array<[string, Partial<ConfigInput>, Partial<ConfigInput>, string | undefined]> = [
    ['routes, listeners, tls, health checks and tcp listeners are live', {}, {
      listen: [{ address: '127.0.0.1:9000' }],
      routes: [{ path: '/a', service: 'a' }],
      health: { active: { a: { path: '/up' } }, passive: { consecutiveFailures: 9 } },
      tcp: [{ listen: '127.0.0.1:5432', service: 'db' }],
      limits: { maxConnections: 10 },
      timeouts: { connect: '1s', grace: '5s' },
      domains: ['example.com'],
      accessLog: '/tmp/x.log',
    }, undefined],
    ['names the leaf of a restart-only section', { registry: { ttl: '30s' } }, { registry: { ttl: '10s' } }, 'registry.ttl'],
    ['refuses another store', {}, { registry: { store: 'redis' }, redis: { url: 'redis://127.0.0.1:1' } }, 'registry.store'],
    ['refuses another admin listener', {}, { admin: { listen: '127.0.0.1:1' } }, 'admin.listen'],
    ['refuses another worker count', {}, { workers: 2 }, 'workers'],
    ['refuses a restart-only limit', {}, { limits: { maxHeaderBytes: 4096 } }, 'limits.maxHeaderBytes'],
    ['refuses turning passive health off', {}, { health: { passive: { consecutiveFailures: 0 } } }, 'health.passive.consecutiveFailures'],
    ['refuses turning the access log off', {}, { accessLog: 'off' }, 'accessLog'],
  ];
  for (const [name, before, after, field] of cases) {
    it(name, () => {
      const err = refusal(config(before), config(after));
      expect(err?.field).toBe(field);
      if (field) {
        expect(err?.code).toBe('conflict');
        expect(err?.message).toMatch(new RegExp(`^${field.replace(/\./g, '\\.')} cannot `));
      }
    });
  }

  it('lists only fields the schema has', () => {
    const defaults = config() as unknown as Record<string, Record<string, unknown>>;
    for (const field of RESTART_ONLY_FIELDS) {
      const [top, inner, leaf] = field.split('.');
      const value = leaf ? (defaults[top!]![inner!] as Record<string, unknown>)[leaf] : inner ? defaults[top!]![inner] : defaults[top!];
      expect(value, field).not.toBeUndefined();
    }
  });
});

describe('describeChanges', () => {
  it('names the changed sections and the listeners added and removed', () => {
    const before = config({ listen: [{ address: '127.0.0.1:1' }, { address: '127.0.0.1:2' }], tcp: [{ listen: '127.0.0.1:3', service: 'db' }] });
    const after = config({
      listen: [{ address: '127.0.0.1:2' }, { address: '127.0.0.1:4', tls: true }],
      tcp: [{ listen: '127.0.0.1:3', service: 'db' }],
      tls: { certificates: [{ hosts: ['a'], cert: 'c', key: 'k' }] },
      routes: [{ path: '/x', service: 'x' }],
    });
    expect(describeChanges(before, after)).toEqual({
      changed: ['listen', 'routes', 'tls'],
      listeners: { added: ['127.0.0.1:4 (tls)'], removed: ['127.0.0.1:1'] },
      tcp: { added: [], removed: [] },
    });
  });
});
