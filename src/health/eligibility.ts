/**
 * THE eligibility rule. Every path that decides whether an instance gets new
 * traffic (EndpointSets) or how it is shown (admin API, metrics) goes through
 * these functions, so they can never disagree.
 *
 * Eligible = status UP ∧ weight > 0 ∧ not ejected (ejectedUntil ≤ now) ∧ the
 * active check has not failed (activeHealthy !== false).
 */
import { ENDPOINT_STATES, type EndpointState } from '../metrics.js';
import type { ServiceState } from '../registry/store.js';
import type { InstanceRecord } from '../types.js';
import type { EndpointHealthStats, EndpointPool } from './state.js';

type HealthFields = Pick<EndpointHealthStats, 'ejectedUntil' | 'activeHealthy'>;

export function isEjected(stats: HealthFields | undefined, now: number): boolean {
  return stats !== undefined && stats.ejectedUntil > now;
}

/** May this instance receive new traffic now? */
export function isEligible(record: InstanceRecord, stats: HealthFields | undefined, now: number): boolean {
  return (
    record.status === 'UP' &&
    record.weight > 0 &&
    !isEjected(stats, now) &&
    (stats === undefined || stats.activeHealthy !== false)
  );
}

/**
 * The admin/metrics view of the same rule. DRAINING and weight 0 both mean "no
 * new traffic, in-flight work finishes", so both show as `draining`; an UP
 * instance is `ejected` while passive health holds it out and `unhealthy` while
 * its active check fails.
 */
export function healthOf(record: InstanceRecord, stats: HealthFields | undefined, now: number): EndpointState {
  if (record.status === 'OUT_OF_SERVICE') return 'unhealthy';
  if (record.status === 'DRAINING' || record.weight <= 0) return 'draining';
  if (isEjected(stats, now)) return 'ejected';
  if (stats !== undefined && stats.activeHealthy === false) return 'unhealthy';
  return 'healthy';
}

/** `healthOf` bound to a pool and clock, in the shape the admin API takes (admin/health-view.ts HealthOf). */
export function poolHealthOf(pool: EndpointPool, now: () => number): (record: InstanceRecord) => EndpointState {
  return (record) => healthOf(record, pool.peek(record.service, record.id), now());
}

/**
 * Scrape-time counts for waypost_endpoints by the same rule: four states per service
 * with instances; an empty service only while `showEmpty(name)` (its departure grace).
 */
export function* endpointCounts(
  services: Iterable<ServiceState>,
  healthOf: (record: InstanceRecord) => EndpointState,
  showEmpty: (service: string) => boolean,
): Iterable<{ service: string; state: EndpointState; count: number }> {
  for (const service of services) {
    if (service.instances.length === 0 && !showEmpty(service.name)) continue;
    const counts = new Map<EndpointState, number>(ENDPOINT_STATES.map((state) => [state, 0]));
    for (const instance of service.instances) {
      const state = healthOf(instance);
      counts.set(state, (counts.get(state) ?? 0) + 1);
    }
    for (const [state, count] of counts) yield { service: service.name, state, count };
  }
}
