/**
 * How names from other registries become Waypost names. Eureka app names are
 * upper-case (`ORDER-SERVICE`) and Consul names and ids are free text; ours are
 * DNS labels (service) and `[A-Za-z0-9._:-]{1,128}` (id). The mapping is
 * deterministic, so every later call (heartbeat, deregister, check update)
 * finds the same record without a lookup table:
 *
 * - service: lower-cased; every character outside `a-z 0-9 -` becomes `-`;
 *   leading and trailing `-` are dropped; cut to 63 characters.
 *   `ORDER_SERVICE` → `order-service`, `My.App` → `my-app`.
 * - id: every character outside `A-Z a-z 0-9 . _ : -` becomes `-`; cut to 128.
 *
 * Two foreign names may map to the same Waypost name (`A_B` and `A.B`); they are
 * then one service. The original spelling is kept in metadata (`eureka.app`,
 * `consul.name`, `…id`) so that answers give it back.
 */
import { invalid } from '../errors.js';
import { INSTANCE_ID_PATTERN, SERVICE_NAME_PATTERN } from '../types.js';

export function toServiceName(foreign: string, field: string): string {
  const mapped = foreign
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 63)
    .replace(/^-+|-+$/g, '');
  if (!SERVICE_NAME_PATTERN.test(mapped)) {
    throw invalid(field, `${field} ${JSON.stringify(foreign.slice(0, 80))} has no letter or digit to make a service name from`);
  }
  return mapped;
}

export function toInstanceId(foreign: string, field: string): string {
  const mapped = foreign.replace(/[^A-Za-z0-9._:-]/g, '-').slice(0, 128);
  if (!INSTANCE_ID_PATTERN.test(mapped)) throw invalid(field, `${field} must not be empty`);
  return mapped;
}
