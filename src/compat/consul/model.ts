/**
 * What a Consul-registered record carries beyond a native one: metadata keys
 * under `consul.` (original names, maintenance, warning weight) and its checks,
 * definitions and statuses, as JSON in `consul.checks`. Every proxy's mirror can
 * so answer health queries; the ConsulAgent (checks.ts) keeps it current.
 */
import { parseBoundedJson } from '../../admin/bounded-json.js';
import type { InstanceRecord } from '../../types.js';

export type CheckStatus = 'passing' | 'warning' | 'critical';
export const CHECK_STATUSES: readonly CheckStatus[] = ['passing', 'warning', 'critical'];
const CHECK_TYPES = ['ttl', 'http', 'tcp'] as const;

export interface CheckDefinition {
  readonly id: string;
  readonly name: string;
  readonly type: (typeof CHECK_TYPES)[number];
  /** TTL checks. */
  readonly ttlMs?: number;
  /** HTTP and TCP checks. */
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  /** URL (http) or host:port (tcp). */
  readonly target?: string;
  readonly method?: string;
  readonly deregisterAfterMs?: number;
}

/** Metadata keys of Consul-registered records. */
export const CONSUL_META = {
  id: 'consul.id',
  name: 'consul.name',
  check: 'consul.check',
  checks: 'consul.checks',
  maintenance: 'consul.maintenance',
  warningWeight: 'consul.weights.warning',
  /** The ConsulAgent that runs the record's checks (ownership.ts). */
  agent: 'consul.agent',
} as const;

/** One check as kept in `consul.checks` (short keys: metadata values are limited to 512 characters). */
export interface StoredCheck {
  id: string;
  name: string;
  type: CheckDefinition['type'];
  status: CheckStatus;
  ttl?: number;
  interval?: number;
  timeout?: number;
  target?: string;
  method?: string;
  dcsa?: number;
}

/** The Consul service ID clients know the record by. */
export function consulIdOf(record: InstanceRecord): string {
  return record.metadata[CONSUL_META.id] ?? record.id;
}

/** The service name Consul clients see. */
export function displayName(record: InstanceRecord): string {
  return record.metadata[CONSUL_META.name] ?? record.service;
}

/** Worst of the checks; none → passing. */
export function aggregateStatus(statuses: Iterable<CheckStatus>): CheckStatus {
  let worst: CheckStatus = 'passing';
  for (const status of statuses) {
    if (status === 'critical') return 'critical';
    if (status === 'warning') worst = 'warning';
  }
  return worst;
}

export function storedCheck(definition: CheckDefinition, status: CheckStatus): StoredCheck {
  const d = definition;
  const stored: StoredCheck = { id: d.id, name: d.name, type: d.type, status };
  if (d.ttlMs !== undefined) stored.ttl = d.ttlMs;
  if (d.intervalMs !== undefined) stored.interval = d.intervalMs;
  if (d.timeoutMs !== undefined) stored.timeout = d.timeoutMs;
  if (d.target !== undefined) stored.target = d.target;
  if (d.method !== undefined) stored.method = d.method;
  if (d.deregisterAfterMs !== undefined) stored.dcsa = d.deregisterAfterMs;
  return stored;
}

export function definitionOf(stored: StoredCheck): CheckDefinition {
  return {
    id: stored.id,
    name: stored.name,
    type: stored.type,
    ...(stored.ttl === undefined ? {} : { ttlMs: stored.ttl }),
    ...(stored.interval === undefined ? {} : { intervalMs: stored.interval }),
    ...(stored.timeout === undefined ? {} : { timeoutMs: stored.timeout }),
    ...(stored.target === undefined ? {} : { target: stored.target }),
    ...(stored.method === undefined ? {} : { method: stored.method }),
    ...(stored.dcsa === undefined ? {} : { deregisterAfterMs: stored.dcsa }),
  };
}

/** The checks kept in a record's metadata; undefined when absent or not ours. */
export function parseStoredChecks(text: string | undefined): StoredCheck[] | undefined {
  if (text === undefined) return undefined;
  try {
    // Client-supplied text (kept in metadata): bounded like every request body.
    const parsed = parseBoundedJson(text);
    if (!Array.isArray(parsed)) return undefined;
    return parsed.filter(
      (c): c is StoredCheck =>
        typeof c === 'object' &&
        c !== null &&
        typeof c.id === 'string' &&
        CHECK_STATUSES.includes(c.status) &&
        (CHECK_TYPES as readonly unknown[]).includes(c.type),
    );
  } catch {
    return undefined;
  }
}
