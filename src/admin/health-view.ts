/**
 * How the admin API shows an instance's health. The proxy passes its health
 * model in (`healthOf`); without one the registry status decides.
 */
import type { EndpointState } from '../metrics.js';
import type { ServiceState } from '../registry/store.js';
import type { InstanceRecord } from '../types.js';

export type InstanceHealth = EndpointState;
export type HealthOf = (record: InstanceRecord) => InstanceHealth;

/** Status alone: UP → healthy, DRAINING → draining, OUT_OF_SERVICE → unhealthy. */
export const healthFromStatus: HealthOf = (record) =>
  record.status === 'UP' ? 'healthy' : record.status === 'DRAINING' ? 'draining' : 'unhealthy';

export interface ServiceView {
  readonly name: string;
  readonly revision: number;
  readonly instances: readonly (InstanceRecord & { readonly health: InstanceHealth })[];
}

export interface ServiceSummary {
  readonly name: string;
  readonly instances: number;
  readonly healthy: number;
}

export function serviceView(state: ServiceState, healthOf: HealthOf): ServiceView {
  return {
    name: state.name,
    revision: state.revision,
    instances: state.instances.map((record) => ({ ...record, health: healthOf(record) })),
  };
}

export function serviceSummary(state: ServiceState, healthOf: HealthOf): ServiceSummary {
  let healthy = 0;
  for (const record of state.instances) if (healthOf(record) === 'healthy') healthy += 1;
  return { name: state.name, instances: state.instances.length, healthy };
}
