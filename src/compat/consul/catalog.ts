/**
 * The read half of the Consul API: `/v1/catalog/services`, `/v1/catalog/service/{name}`
 * and `/v1/health/service/{name}`, answered from the mirror, with blocking queries
 * (`?index=N&wait=30s`, `X-Consul-Index` = the registry revision + 1). Every
 * record shows up, whichever API registered it: a native or Eureka instance's
 * status stands in for its checks.
 */
import { BlockingQueries, MAX_WAIT_TIMEOUT_MS } from '../../admin/blocking-query.js';
import { sendJson } from '../../admin/body.js';
import { invalid } from '../../errors.js';
import type { RegistryMirror } from '../../mirror/mirror.js';
import type { ServiceState } from '../../registry/store.js';
import type { InstanceRecord } from '../../types.js';
import type { CompatCall } from '../dispatch.js';
import { toServiceName } from '../names.js';
import type { ConsulAgent } from './checks.js';
import { parseGoDuration } from './definitions.js';
import { CONSUL_META, consulIdOf, displayName, parseStoredChecks } from './model.js';

/** Consul's default blocking wait. */
const DEFAULT_WAIT_MS = 5 * 60_000;
const NODE = 'waypost';
const DATACENTER = 'dc1';

export class ConsulCatalog {
  readonly #mirror: RegistryMirror;
  readonly #blocking: BlockingQueries;
  /** Gives the outputs of the checks run in this process. */
  readonly #agent: ConsulAgent;

  constructor(mirror: RegistryMirror, blocking: BlockingQueries, agent: ConsulAgent) {
    this.#mirror = mirror;
    this.#blocking = blocking;
    this.#agent = agent;
  }

  async services({ res, query, clientGone }: CompatCall): Promise<void> {
    const index = parseIndex(query);
    if (index !== undefined) {
      await this.#blocking.waitForAnyChange({ afterRevision: index.after, timeoutMs: index.waitMs }, clientGone);
      if (clientGone.aborted) return;
    }
    const services: Record<string, string[]> = {};
    for (const state of this.#mirror.services()) {
      if (state.instances.length === 0) continue;
      const tags = new Set<string>();
      for (const record of state.instances) for (const tag of record.tags) tags.add(tag);
      services[displayName(state.instances[0]!)] = [...tags];
    }
    sendJson(res, 200, services, consulIndex(this.#mirror.revision));
  }

  async service(call: CompatCall, name: string): Promise<void> {
    const state = await this.#serviceState(call, name);
    if (!state) return;
    const tag = call.query.get('tag');
    const records = state.instances.filter((record) => tag === null || record.tags.includes(tag));
    sendJson(call.res, 200, records.map(catalogEntry), consulIndex(state.revision));
  }

  async health(call: CompatCall, name: string): Promise<void> {
    const state = await this.#serviceState(call, name);
    if (!state) return;
    const passingOnly = call.query.has('passing') && call.query.get('passing') !== 'false';
    const tag = call.query.get('tag');
    const entries = [];
    for (const record of state.instances) {
      if (tag !== null && !record.tags.includes(tag)) continue;
      const checks = this.#checksOf(record);
      if (passingOnly && checks.some((check) => check.Status !== 'passing')) continue;
      entries.push({ Node: nodeEntry(), Service: agentService(record), Checks: checks });
    }
    sendJson(call.res, 200, entries, consulIndex(state.revision));
  }

  /** The service's state, after waiting when the query blocks; undefined when the client left. */
  async #serviceState({ query, clientGone }: CompatCall, name: string): Promise<ServiceState | undefined> {
    const service = toServiceName(name, 'service');
    const index = parseIndex(query);
    if (index === undefined) return this.#mirror.service(service) ?? { name: service, revision: 0, instances: [] };
    const state = await this.#blocking.wait(service, { afterRevision: index.after, timeoutMs: index.waitMs }, clientGone);
    return clientGone.aborted ? undefined : state;
  }

  #checksOf(record: InstanceRecord): Record<string, unknown>[] {
    const serviceId = consulIdOf(record);
    const base = { Node: NODE, ServiceID: serviceId, ServiceName: displayName(record), ServiceTags: record.tags, Notes: '', CreateIndex: 1, ModifyIndex: 1 };
    const stored = parseStoredChecks(record.metadata[CONSUL_META.checks]);
    const checks: Record<string, unknown>[] = (stored ?? []).map((check) => ({
      ...base,
      CheckID: check.id,
      Name: check.name,
      Status: check.status,
      Output: this.#agent.outputOf(check.id),
      Type: check.type,
    }));
    if (record.metadata[CONSUL_META.maintenance] === 'true') {
      checks.push({ ...base, CheckID: `_service_maintenance:${serviceId}`, Name: 'Service Maintenance Mode', Status: 'critical', Output: '', Type: 'maintenance' });
    }
    // Instances registered natively or through Eureka (or drained natively): their status is their health.
    if (!checks.some((check) => check.Status === 'critical') && (stored === undefined || record.status !== 'UP')) {
      checks.push({
        ...base,
        CheckID: `waypost:${serviceId}`,
        Name: 'Waypost registry status',
        Status: record.status === 'UP' ? 'passing' : 'critical',
        Output: `status ${record.status}`,
        Type: 'waypost',
      });
    }
    return checks;
  }
}

function parseIndex(query: URLSearchParams): { after: number; waitMs: number } | undefined {
  const index = query.get('index');
  if (index === null) return undefined;
  if (!/^\d{1,15}$/.test(index)) throw invalid('index', `index must be a non-negative integer; got ${JSON.stringify(index.slice(0, 40))}`);
  const wait = query.get('wait');
  let waitMs = DEFAULT_WAIT_MS;
  if (wait !== null) {
    const parsed = parseGoDuration(wait);
    if (parsed === undefined) throw invalid('wait', `wait must be a duration like 30s; got ${JSON.stringify(wait.slice(0, 40))}`);
    waitMs = parsed;
  }
  // The index a client sends back is one we reported: revision + 1.
  return { after: Math.max(0, Number(index) - 1), waitMs: Math.min(waitMs, MAX_WAIT_TIMEOUT_MS) };
}

/**
 * Consul clients treat index 0 as "reset" and our revisions start at 0, so the index is
 * revision + 1 (not max(1, revision): revisions 0 and 1 would share index 1, and a query
 * parked at index 1 on a fresh registry would miss the first change).
 */
function consulIndex(revision: number): Record<string, string> {
  return { 'x-consul-index': String(revision + 1), 'x-consul-knownleader': 'true', 'x-consul-lastcontact': '0' };
}

function userMeta(record: InstanceRecord): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const [key, value] of Object.entries(record.metadata)) if (!key.startsWith('consul.')) meta[key] = value;
  return meta;
}

function weights(record: InstanceRecord): { Passing: number; Warning: number } {
  const warning = Number(record.metadata[CONSUL_META.warningWeight] ?? record.weight);
  return { Passing: record.weight, Warning: warning };
}

function agentService(record: InstanceRecord): Record<string, unknown> {
  return {
    ID: consulIdOf(record),
    Service: displayName(record),
    Tags: record.tags,
    Address: record.host,
    Meta: userMeta(record),
    Port: record.port,
    Weights: weights(record),
    EnableTagOverride: false,
    CreateIndex: 1,
    ModifyIndex: 1,
  };
}

function nodeEntry(): Record<string, unknown> {
  return { ID: '', Node: NODE, Address: '127.0.0.1', Datacenter: DATACENTER, TaggedAddresses: {}, Meta: {}, CreateIndex: 1, ModifyIndex: 1 };
}

function catalogEntry(record: InstanceRecord): Record<string, unknown> {
  return {
    ID: '',
    Node: NODE,
    Address: record.host,
    Datacenter: DATACENTER,
    TaggedAddresses: {},
    NodeMeta: {},
    ServiceKind: '',
    ServiceID: consulIdOf(record),
    ServiceName: displayName(record),
    ServiceTags: record.tags,
    ServiceAddress: record.host,
    ServiceWeights: weights(record),
    ServiceMeta: userMeta(record),
    ServicePort: record.port,
    ServiceEnableTagOverride: false,
    CreateIndex: 1,
    ModifyIndex: 1,
  };
}
