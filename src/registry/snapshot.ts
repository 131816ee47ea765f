/**
 * Pure building blocks of registry snapshots (the mirror's, and a paged state load's):
 * frozen copies of records and services, and applying one change event to one service.
 *
 * Records that are not already deeply frozen are copied before freezing: a store
 * may hand out objects it keeps and later changes; freezing its objects would
 * break it, sharing them would let its changes leak into a snapshot without a
 * change event.
 */
import type { ChangeEvent, RegistryState, ServiceState } from './store.js';
import type { InstanceRecord } from '../types.js';
import { frozenDeclaredRoutes } from './routes.js';

const EMPTY_INSTANCES: readonly InstanceRecord[] = Object.freeze([]);

export function frozenRecord(record: InstanceRecord): InstanceRecord {
  // A record already frozen all the way down cannot change under us: share it.
  if (Object.isFrozen(record) && Object.isFrozen(record.tags) && Object.isFrozen(record.metadata) && Object.isFrozen(record.routes ?? EMPTY_INSTANCES)) {
    return record;
  }
  return Object.freeze({
    id: record.id,
    service: record.service,
    host: record.host,
    port: record.port,
    weight: record.weight,
    zone: record.zone,
    tags: Object.freeze([...record.tags]),
    metadata: Object.freeze({ ...record.metadata }),
    status: record.status,
    protocol: record.protocol,
    ttl: record.ttl,
    ...(record.routes === undefined ? {} : { routes: frozenDeclaredRoutes(record.routes) }),
    registeredAt: record.registeredAt,
    leaseExpiresAt: record.leaseExpiresAt,
  });
}

/** A service with no instances, e.g. one nobody registered yet or one whose last instance left. */
export function emptyService(name: string, revision = 0): ServiceState {
  return Object.freeze({ name, revision, instances: EMPTY_INSTANCES });
}

export function frozenService(state: ServiceState): ServiceState {
  const instances = state.instances.map(frozenRecord).sort(byId);
  return Object.freeze({ name: state.name, revision: state.revision, instances: Object.freeze(instances) });
}

/** A new service map for a full resync; nothing of the previous map is reused. */
export function buildServiceMap(state: RegistryState): Map<string, ServiceState> {
  const services = new Map<string, ServiceState>();
  for (const service of state.services) services.set(service.name, frozenService(service));
  return services;
}

/**
 * The service after one event: O(instances of that service) (binary search plus
 * one array copy). `prev` is never modified.
 */
export function applyEvent(prev: ServiceState | undefined, event: ChangeEvent): ServiceState {
  const instances = prev?.instances ?? EMPTY_INSTANCES;
  const index = findIndex(instances, event.id);
  const found = index >= 0;
  let next: InstanceRecord[];
  if (event.type === 'deregister' || event.type === 'expire' || event.instance === undefined) {
    if (!found) return Object.freeze({ name: event.service, revision: event.revision, instances });
    next = instances.slice();
    next.splice(index, 1);
  } else {
    const record = frozenRecord(event.instance);
    next = instances.slice();
    if (found) next[index] = record;
    else next.splice(-index - 1, 0, record);
  }
  return Object.freeze({
    name: event.service,
    revision: event.revision,
    instances: next.length === 0 ? EMPTY_INSTANCES : Object.freeze(next),
  });
}

/** Instances in id order, as ServiceState keeps them. */
export function byId(a: InstanceRecord, b: InstanceRecord): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Index of `id`, or `-(insertion point) - 1` when absent (instances are sorted by id). */
function findIndex(instances: readonly InstanceRecord[], id: string): number {
  let low = 0;
  let high = instances.length - 1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    const midId = instances[mid]!.id;
    if (midId < id) low = mid + 1;
    else if (midId > id) high = mid - 1;
    else return mid;
  }
  return -low - 1;
}
