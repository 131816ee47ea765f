/**
 * Which proxy runs a Consul service's checks, when several share one registry.
 *
 * The record names its runner (`consul.agent`, the id of a ConsulAgent); every
 * proxy reconciles with each change of the service in its mirror: it runs what
 * names it and stops what no longer does, so exactly one proxy runs a record's
 * checks and renews its lease, and every proxy answers from the same record. A
 * proxy takes a record over by writing its own id into it (a registration, a
 * check update or maintenance call it receives); the last writer wins.
 *
 * An agent acts on a record it runs only once its mirror has shown its own write
 * (`confirmed`): until then the mirror may still deliver states from before it.
 */
import type { ServiceState } from '../../registry/store.js';
import { instanceKey, type InstanceRecord } from '../../types.js';
import { CONSUL_META } from './model.js';

export interface OwnershipPlan {
  /** Records that name this agent but do not run here: run them. */
  readonly adopt: readonly InstanceRecord[];
  /** Keys run here whose record now shows this agent's write. */
  readonly confirm: readonly string[];
  /** Keys run here whose record is gone or names another agent: stop them (no write). */
  readonly drop: readonly string[];
  /** Released keys whose record is gone or names another agent: no longer held back. */
  readonly forget: readonly string[];
}

export interface OwnershipView {
  readonly agentId: string;
  /** The keys of this service run here, each with whether its write was seen. */
  readonly running: ReadonlyMap<string, { readonly confirmed: boolean }>;
  /** Keys this agent let go of (deregistered here) and must not take back from a stale state. */
  readonly released: ReadonlySet<string>;
}

export function runnerOf(record: InstanceRecord): string | undefined {
  return record.metadata[CONSUL_META.agent];
}

export function planOwnership(service: string, state: ServiceState | undefined, view: OwnershipView): OwnershipPlan {
  const adopt: InstanceRecord[] = [];
  const confirm: string[] = [];
  const ours = new Set<string>();
  for (const record of state?.instances ?? []) {
    if (runnerOf(record) !== view.agentId) continue;
    const key = instanceKey(service, record.id);
    ours.add(key);
    const running = view.running.get(key);
    if (running === undefined) {
      if (!view.released.has(key)) adopt.push(record);
    } else if (!running.confirmed) {
      confirm.push(key);
    }
  }
  const drop = [...view.running].filter(([key, { confirmed }]) => confirmed && !ours.has(key)).map(([key]) => key);
  const forget = [...view.released].filter((key) => key.startsWith(`${service}/`) && !ours.has(key));
  return { adopt, confirm, drop, forget };
}
