/**
 * The seam every compared system fits: a name, a reason it cannot run here (or none), and a
 * start that returns where to send load and which process to measure. Waypost is one more
 * system started from a command, like nginx.
 */
import type { Backends } from './backends.js';
import type { Pinning } from './pin.js';
import type { ProcessGroup } from './processes.js';

export interface SystemContext {
  backends: Backends;
  group: ProcessGroup;
  pinning: Pinning;
  /** A fresh directory for this system's config, pid and temp files. */
  tmpDir: string;
}

export interface RunningSystem {
  port: number;
  /** Host header the load generator sends (routing by host); undefined = the tool's default. */
  hostHeader?: string;
  /** The proxy process to measure (CPU %, RSS); undefined for `direct`. */
  pid?: number;
  /** Waypost only: the admin port (metrics, registry API). */
  adminPort?: number;
  stop(): Promise<void>;
}

export interface SystemDefinition {
  /** Stable id for `--systems` and the JSON results. */
  id: string;
  /** Row label in the table. */
  label: string;
  /** Why it cannot run on this machine, or undefined when it can. */
  unavailable(): Promise<string | undefined>;
  start(context: SystemContext): Promise<RunningSystem>;
}

/** true (and the reason printed and added to `skipped`) when `definition` cannot run here. */
export async function skippedAsUnavailable(definition: SystemDefinition, skipped: { system: string; reason: string }[]): Promise<boolean> {
  const reason = await definition.unavailable();
  if (!reason) return false;
  console.log(`skip ${definition.id}: ${reason}`);
  skipped.push({ system: definition.id, reason });
  return true;
}
