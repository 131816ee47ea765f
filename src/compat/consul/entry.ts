/**
 * One instance as a ConsulAgent runs it: its checks' state and timers, and the
 * registration written from them (status and `consul.*` metadata).
 */
import type { TimerHandle } from '../../clock.js';
import type { InstanceRecord, RegistrationInput } from '../../types.js';
import { CONSUL_META, aggregateStatus, definitionOf, parseStoredChecks, storedCheck, type CheckDefinition, type CheckStatus } from './model.js';

export interface CheckRun {
  readonly definition: CheckDefinition;
  status: CheckStatus;
  output: string;
  timer: TimerHandle | undefined;
  deregisterTimer: TimerHandle | undefined;
}

export interface AgentEntry {
  /** The registration as last written (status and check metadata are rewritten on transitions). */
  input: RegistrationInput;
  readonly checks: CheckRun[];
  maintenance: boolean;
  leaseTimer: TimerHandle | undefined;
  closed: boolean;
  /** The mirror has shown this agent's write of the record (ownership.ts). */
  confirmed: boolean;
  /** Serialises this entry's store writes so transitions land in order. */
  writing: Promise<void>;
}

export function newEntry(input: RegistrationInput, checks: readonly { definition: CheckDefinition; status: CheckStatus }[], maintenance: boolean): AgentEntry {
  return {
    input,
    checks: checks.map(({ definition, status }) => ({ definition, status, output: '', timer: undefined, deregisterTimer: undefined })),
    maintenance,
    leaseTimer: undefined,
    closed: false,
    confirmed: false,
    writing: Promise.resolve(),
  };
}

/** An entry for a stored record, named as run by `agentId`; undefined when the record has no Consul checks. */
export function entryOf(record: InstanceRecord, agentId: string): AgentEntry | undefined {
  const stored = parseStoredChecks(record.metadata[CONSUL_META.checks]);
  if (!stored) return undefined;
  const input: RegistrationInput = {
    service: record.service,
    id: record.id,
    host: record.host,
    port: record.port,
    weight: record.weight,
    zone: record.zone,
    tags: record.tags,
    metadata: { ...record.metadata, [CONSUL_META.agent]: agentId },
    status: record.status,
    ttl: record.ttl,
  };
  const checks = stored.map((check) => ({ definition: definitionOf(check), status: check.status }));
  return newEntry(input, checks, record.metadata[CONSUL_META.maintenance] === 'true');
}

/**
 * The registration with the entry's health: any critical check or maintenance →
 * OUT_OF_SERVICE, else UP; each check's definition and status in `consul.checks`.
 */
export function withHealth(input: RegistrationInput, entry: AgentEntry): RegistrationInput {
  const aggregate = aggregateStatus(entry.checks.map((run) => run.status));
  const metadata: Record<string, string> = { ...input.metadata, [CONSUL_META.check]: aggregate };
  if (entry.checks.length > 0) metadata[CONSUL_META.checks] = JSON.stringify(entry.checks.map((run) => storedCheck(run.definition, run.status)));
  else delete metadata[CONSUL_META.checks];
  if (entry.maintenance) metadata[CONSUL_META.maintenance] = 'true';
  else delete metadata[CONSUL_META.maintenance];
  const down = entry.maintenance || aggregate === 'critical';
  return { ...input, metadata, status: down ? 'OUT_OF_SERVICE' : 'UP' };
}
