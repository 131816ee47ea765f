/**
 * Zone preference: keep traffic inside this proxy's zone while that zone can
 * carry it. The decision is made when an EndpointSet is built (health/endpoint-sets.ts), so
 * the request path pays nothing for it.
 */
import type { InstanceRecord } from '../types.js';

/** Is `record` in the proxy's zone? An empty proxy zone means no preference. */
export function inZone(record: InstanceRecord, zone: string): boolean {
  return zone !== '' && record.zone === zone;
}

/**
 * Use only the same-zone endpoints while at least one of them is eligible and
 * the eligible share of the zone's UP instances is at least `panicThreshold`
 * (the same bar that puts a whole service into panic); otherwise spill over to
 * every zone.
 */
export function preferLocalZone(localEligible: number, localUp: number, panicThreshold: number): boolean {
  return localEligible >= 1 && localEligible >= panicThreshold * localUp;
}
