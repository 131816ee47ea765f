/** Comparisons of instance records shared by the stores and the admin API. */
import type { InstanceRecord } from '../types.js';
import { sameDeclaredRoutes } from './routes.js';

/** Every field except the lease and registeredAt. */
export function sameFields(a: InstanceRecord, b: InstanceRecord): boolean {
  return (
    a.host === b.host &&
    a.port === b.port &&
    a.weight === b.weight &&
    a.zone === b.zone &&
    a.status === b.status &&
    a.protocol === b.protocol &&
    a.ttl === b.ttl &&
    sameDeclaredRoutes(a.routes, b.routes) &&
    a.tags.length === b.tags.length &&
    a.tags.every((tag, i) => tag === b.tags[i]) &&
    JSON.stringify(Object.entries(a.metadata).sort()) === JSON.stringify(Object.entries(b.metadata).sort())
  );
}
