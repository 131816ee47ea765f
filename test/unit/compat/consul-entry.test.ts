import { describe, expect, it } from 'vitest';
import { entryOf, newEntry, withHealth } from '../../../src/compat/consul/entry.js';
import { parseStoredChecks, type CheckDefinition, type CheckStatus } from '../../../src/compat/consul/model.js';
import type { InstanceRecord, RegistrationInput } from '../../../src/types.js';

const input: RegistrationInput = { service: 'billing', id: 'billing-1', host: '10.0.0.5', port: 9100, metadata: { version: '1.0' } };
const ttl: CheckDefinition = { id: 'ttl', name: 'ttl check', type: 'ttl', ttlMs: 10_000 };
const http: CheckDefinition = { id: 'http', name: 'http check', type: 'http', target: 'http://10.0.0.5:9100/health', intervalMs: 5000, timeoutMs: 1000, deregisterAfterMs: 60_000 };

function written(statuses: CheckStatus[], maintenance = false): RegistrationInput {
  const definitions = [ttl, http].slice(0, statuses.length);
  return withHealth(input, newEntry(input, definitions.map((definition, i) => ({ definition, status: statuses[i]! })), maintenance));
}

describe('the registration a Consul agent writes from its checks', () => {
  it.each<[string, CheckStatus[], boolean, string, string]>([
    ['no checks are passing and UP', [], false, 'UP', 'passing'],
    ['all checks passing are UP', ['passing', 'passing'], false, 'UP', 'passing'],
    ['a warning check keeps the instance UP', ['passing', 'warning'], false, 'UP', 'warning'],
    ['one critical check takes the instance out of service', ['passing', 'critical'], false, 'OUT_OF_SERVICE', 'critical'],
    ['maintenance takes a passing instance out of service', ['passing'], true, 'OUT_OF_SERVICE', 'passing'],
  ])('%s', (_name, statuses, maintenance, status, aggregate) => {
    const registration = written(statuses, maintenance);
    expect(registration.status).toBe(status);
    expect(registration.metadata!['consul.check']).toBe(aggregate);
    expect(registration.metadata!['consul.maintenance']).toBe(maintenance ? 'true' : undefined);
    expect(registration.metadata!.version).toBe('1.0');
  });

  it('stores each check definition and status so another proxy can run them', () => {
    const registration = written(['passing', 'critical']);
    const record = { ...registration, weight: 100, zone: '', tags: [], status: registration.status!, ttl: 30, registeredAt: '', leaseExpiresAt: '' } as InstanceRecord;
    expect(parseStoredChecks(record.metadata['consul.checks'])?.map((check) => check.status)).toEqual(['passing', 'critical']);
    const taken = entryOf(record, 'agent-b')!;
    expect(taken.checks.map((run) => [run.definition, run.status])).toEqual([
      [ttl, 'passing'],
      [http, 'critical'],
    ]);
    expect(taken.input.metadata!['consul.agent']).toBe('agent-b');
  });

  it('has nothing to take over from a record without Consul checks', () => {
    const native = { ...input, weight: 100, zone: '', tags: [], metadata: {}, status: 'UP', ttl: 30, registeredAt: '', leaseExpiresAt: '' } as InstanceRecord;
    expect(entryOf(native, 'agent-b')).toBeUndefined();
  });
});
