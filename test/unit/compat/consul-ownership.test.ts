import { describe, expect, it } from 'vitest';
import { planOwnership, type OwnershipView } from '../../../src/compat/consul/ownership.js';
import type { ServiceState } from '../../../src/registry/store.js';
import type { InstanceRecord } from '../../../src/types.js';

const ME = 'agent-a';

/** A record of service `ledger` run by `agent` (none: registered before agents were named). */
function record(id: string, agent?: string): InstanceRecord {
  return {
    id,
    service: 'ledger',
    host: '10.0.0.1',
    port: 80,
    weight: 100,
    zone: '',
    tags: [],
    metadata: agent === undefined ? {} : { 'consul.agent': agent },
    status: 'UP',
    protocol: 'http1',
    ttl: 30,
    registeredAt: '2026-01-01T00:00:00.000Z',
    leaseExpiresAt: '2026-01-01T00:00:30.000Z',
  };
}

function state(...instances: InstanceRecord[]): ServiceState {
  return { name: 'ledger', revision: 7, instances };
}

function view(running: Record<string, boolean>, released: string[] = []): OwnershipView {
  return { agentId: ME, running: new Map(Object.entries(running).map(([key, confirmed]) => [key, { confirmed }])), released: new Set(released) };
}

describe('which Consul records an agent runs', () => {
  it.each<[string, ServiceState | undefined, OwnershipView, { adopt?: string[]; confirm?: string[]; drop?: string[]; forget?: string[] }]>([
    ['a record naming this agent that does not run here is taken up', state(record('l-1', ME)), view({}), { adopt: ['l-1'] }],
    ['a record naming another agent is left alone', state(record('l-1', 'agent-b')), view({}), {}],
    ['a record naming no agent is left alone', state(record('l-1')), view({}), {}],
    ['the first state showing this agent\'s own write confirms it', state(record('l-1', ME)), view({ 'ledger/l-1': false }), { confirm: ['ledger/l-1'] }],
    ['a confirmed record that now names another agent is dropped', state(record('l-1', 'agent-b')), view({ 'ledger/l-1': true }), { drop: ['ledger/l-1'] }],
    ['a confirmed record that is gone is dropped', state(), view({ 'ledger/l-1': true }), { drop: ['ledger/l-1'] }],
    ['a removed service drops what ran of it', undefined, view({ 'ledger/l-1': true }), { drop: ['ledger/l-1'] }],
    ['an unconfirmed record is kept whatever an older state shows', state(record('l-1', 'agent-b')), view({ 'ledger/l-1': false }), {}],
    ['a record deregistered here is not taken back from a stale state', state(record('l-1', ME)), view({}, ['ledger/l-1']), {}],
    ['a released record that is gone is no longer held back', state(), view({}, ['ledger/l-1']), { forget: ['ledger/l-1'] }],
    ['a released key of another service is not touched', state(), view({}, ['orders/o-1']), {}],
  ])('%s', (_name, serviceState, ownership, expected) => {
    const plan = planOwnership('ledger', serviceState, ownership);
    expect({
      adopt: plan.adopt.map((r) => r.id),
      confirm: plan.confirm,
      drop: plan.drop,
      forget: plan.forget,
    }).toEqual({ adopt: [], confirm: [], drop: [], forget: [], ...expected });
  });
});
