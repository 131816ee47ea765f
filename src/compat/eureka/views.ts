/**
 * What Eureka clients poll, built from the mirror: the full registry
 * (`GET /apps`, rendered once per registry revision), the recent changes
 * (`GET /apps/delta`, a bounded queue of ADDED / MODIFIED / DELETED entries
 * kept from the mirror's change events) and VIP address queries.
 */
import type { RegistryMirror } from '../../mirror/mirror.js';
import type { ServiceState } from '../../registry/store.js';
import type { InstanceRecord } from '../../types.js';
import { appNameOf, appsHashCode, eurekaStatusOf, EUREKA_META, sameForEureka, toEurekaInstance, type EurekaInstance } from './mapping.js';

/** Eureka keeps changes for its delta this long (eureka.server.retentionTimeInMSInDeltaQueue). */
const DELTA_RETENTION_MS = 3 * 60_000;
/** Bound on the delta queue whatever the change rate. */
const DELTA_MAX_ENTRIES = 10_000;

interface DeltaEntry {
  readonly at: number;
  readonly instance: EurekaInstance;
}

interface FullView {
  readonly revision: number;
  readonly hashCode: string;
  /** The JSON answer, serialised once. */
  readonly text: string;
}

export class EurekaViews {
  readonly #mirror: RegistryMirror;
  /** What this layer last saw of each service, to turn mirror changes into delta entries. */
  readonly #known = new Map<string, ReadonlyMap<string, InstanceRecord>>();
  #delta: DeltaEntry[] = [];
  #full: FullView | undefined;
  readonly #unsubscribe: () => void;

  constructor(mirror: RegistryMirror) {
    this.#mirror = mirror;
    for (const state of mirror.services()) this.#known.set(state.name, byId(state));
    this.#unsubscribe = mirror.onChange((service, state) => this.#recordDelta(service, state));
  }

  close(): void {
    this.#unsubscribe();
  }

  /** `GET /apps` as JSON text: what every client polls, so rendered once per registry revision. */
  appsText(): string {
    return this.#fullView().text;
  }

  delta(): unknown {
    this.#trimDelta(Date.now());
    const grouped = new Map<string, EurekaInstance[]>();
    for (const { instance } of this.#delta) {
      const list = grouped.get(instance.app) ?? [];
      list.push(instance);
      grouped.set(instance.app, list);
    }
    return {
      applications: {
        versions__delta: String(this.#mirror.revision),
        apps__hashcode: this.#fullView().hashCode,
        application: [...grouped].map(([name, list]) => ({ name, instance: list })),
      },
    };
  }

  /** Every instance whose (secure) VIP address list holds `vip`; a native instance's VIP is its service. */
  vip(vip: string, secure: boolean): unknown {
    const key = secure ? EUREKA_META.secureVipAddress : EUREKA_META.vipAddress;
    const matches: InstanceRecord[] = [];
    for (const state of this.#mirror.services()) {
      for (const record of state.instances) {
        if ((record.metadata[key] ?? record.service).split(',').includes(vip)) matches.push(record);
      }
    }
    return applicationsOf(matches, String(this.#mirror.revision), hashCodeOf(matches));
  }

  #fullView(): FullView {
    const revision = this.#mirror.revision;
    if (this.#full?.revision === revision) return this.#full;
    const records: InstanceRecord[] = [];
    for (const state of this.#mirror.services()) records.push(...state.instances);
    const hashCode = hashCodeOf(records);
    this.#full = { revision, hashCode, text: JSON.stringify(applicationsOf(records, String(revision), hashCode)) };
    return this.#full;
  }

  /** Turns one service's change into ADDED / MODIFIED / DELETED entries. */
  #recordDelta(service: string, state: ServiceState | undefined): void {
    const before = this.#known.get(service) ?? new Map<string, InstanceRecord>();
    const after = state ? byId(state) : new Map<string, InstanceRecord>();
    const now = Date.now();
    for (const [id, record] of after) {
      const old = before.get(id);
      if (!old) this.#delta.push({ at: now, instance: toEurekaInstance(record, 'ADDED') });
      else if (old !== record && !sameForEureka(old, record)) this.#delta.push({ at: now, instance: toEurekaInstance(record, 'MODIFIED') });
    }
    for (const [id, record] of before) {
      if (!after.has(id)) this.#delta.push({ at: now, instance: toEurekaInstance(record, 'DELETED') });
    }
    if (after.size === 0) this.#known.delete(service);
    else this.#known.set(service, after);
    this.#trimDelta(now);
  }

  #trimDelta(now: number): void {
    let drop = 0;
    while (drop < this.#delta.length && now - this.#delta[drop]!.at > DELTA_RETENTION_MS) drop += 1;
    drop = Math.max(drop, this.#delta.length - DELTA_MAX_ENTRIES);
    if (drop > 0) this.#delta = this.#delta.slice(drop);
  }
}

/** One app's `application` document (records of one app name). */
export function applicationOf(records: readonly InstanceRecord[]): { name: string; instance: EurekaInstance[] } {
  return { name: appNameOf(records[0]!), instance: records.map((record) => toEurekaInstance(record)) };
}

function applicationsOf(records: readonly InstanceRecord[], revision: string, hashCode: string): unknown {
  const byApp = new Map<string, InstanceRecord[]>();
  for (const record of records) {
    const name = appNameOf(record);
    const list = byApp.get(name) ?? [];
    list.push(record);
    byApp.set(name, list);
  }
  return {
    applications: {
      versions__delta: revision,
      apps__hashcode: hashCode,
      application: [...byApp.values()].map(applicationOf),
    },
  };
}

function hashCodeOf(records: readonly InstanceRecord[]): string {
  return appsHashCode(records.map((record) => ({ status: eurekaStatusOf(record) })));
}

function byId(state: ServiceState): Map<string, InstanceRecord> {
  return new Map(state.instances.map((record) => [record.id, record]));
}
