/**
 * How the cluster hands connections to workers. Node documents NODE_CLUSTER_SCHED_POLICY
 * (`rr` | `none`) for this, but primary.ts used to force round-robin over it; honouring it lets
 * an operator (and bench/multicore.ts) pick kernel-balanced accept without a config field.
 * Unset (or empty, as Node treats it) keeps round-robin: on Linux the kernel wakes workers so
 * unevenly that one may take most connections (Node's docs, cluster "How it works").
 */
import cluster from 'node:cluster';
import { configError } from '../errors.js';

export const SCHED_POLICY_VARIABLE = 'NODE_CLUSTER_SCHED_POLICY';

export type SchedulingName = 'rr' | 'none';

export interface Scheduling {
  name: SchedulingName;
  /** cluster.SCHED_RR or cluster.SCHED_NONE. */
  policy: number;
}

/** The policy the environment asks for; a value other than rr/none is a config error (exit 2). */
export function schedulingFromEnv(env: NodeJS.ProcessEnv): Scheduling {
  const value = env[SCHED_POLICY_VARIABLE];
  if (value === undefined || value === '' || value === 'rr') return { name: 'rr', policy: cluster.SCHED_RR };
  if (value === 'none') return { name: 'none', policy: cluster.SCHED_NONE };
  throw configError(SCHED_POLICY_VARIABLE, `expected rr or none, got ${JSON.stringify(value)} (from the environment)`);
}
