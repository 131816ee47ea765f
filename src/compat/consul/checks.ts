/**
 * The agent half of the Consul compatibility layer: the checks of services
 * registered through `PUT /v1/agent/service/register`, run as a Consul agent
 * runs the checks of its local services.
 *
 * With several proxies on one registry, exactly one runs a record's checks: the
 * one named in it (`consul.agent`, ownership.ts). The proxy that receives the
 * registration runs them; a proxy that receives a check update or maintenance
 * call for a record it does not run takes the record over (writing its own id),
 * and the other stops when its mirror shows that. Every proxy answers health
 * from the same record.
 *
 * How Consul's model maps onto leases and statuses:
 * - The instance's registry lease is kept alive by the running agent (renewed
 *   every third of it), like a Consul agent holding its services: if that
 *   process dies and no other takes the record over, the lease runs out.
 * - TTL check: not passed within TTL → critical. HTTP and TCP checks: probe.ts.
 *   Checks start critical unless `Status` says.
 * - Any critical check, or maintenance mode → status OUT_OF_SERVICE (no traffic,
 *   still registered, shown as critical); otherwise UP. A warning keeps UP
 *   (Consul's DNS serves warning instances too) but is not `?passing`.
 * - DeregisterCriticalServiceAfter: a check critical that long deregisters the
 *   instance.
 * The aggregate and each check's status live in the record's metadata
 * (`consul.check`, `consul.checks`, entry.ts), so every proxy's mirror can answer
 * health queries; only status transitions and takeovers are writes, passes are
 * lease renewals.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../clock.js';
import { describeError, invalid } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { RegistryMirror } from '../../mirror/mirror.js';
import type { RegistryStore, ServiceState } from '../../registry/store.js';
import { instanceKey, type InstanceRecord, type RegistrationInput } from '../../types.js';
import { entryOf, newEntry, withHealth, type AgentEntry, type CheckRun } from './entry.js';
import { CONSUL_META, type CheckDefinition, type CheckStatus } from './model.js';
import { planOwnership } from './ownership.js';
import { probe } from './probe.js';

export interface ConsulAgentOptions {
  store: RegistryStore;
  /** Followed to learn which records this agent runs when proxies share a registry. */
  mirror: RegistryMirror;
  /** Written into the records this agent runs. @default a random UUID */
  agentId?: string;
  clock: Clock;
  logger: Logger;
  /** The lease of every Consul-registered record, in seconds. */
  leaseSeconds: number;
}

export class ConsulAgent {
  readonly #store: RegistryStore;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #leaseSeconds: number;
  /** Keyed by `service/id`. */
  readonly #entries = new Map<string, AgentEntry>();
  /** Check id → entry key. */
  readonly #checkOwners = new Map<string, string>();
  readonly #agentId: string;
  /** Keys deregistered here: a stale mirror state naming this agent must not bring them back. */
  readonly #released = new Set<string>();
  readonly #unsubscribe: () => void;

  constructor(options: ConsulAgentOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#log = options.logger;
    this.#leaseSeconds = options.leaseSeconds;
    this.#agentId = options.agentId ?? randomUUID();
    this.#unsubscribe = options.mirror.onChange((service, state) => this.#reconcile(service, state));
  }

  /**
   * Stores a registration and starts running its checks here (replacing any
   * earlier entry for the same instance). `initial` gives each check's starting status.
   */
  async register(input: RegistrationInput, checks: readonly CheckDefinition[], initial: readonly CheckStatus[], maintenance = false): Promise<InstanceRecord> {
    const key = instanceKey(input.service, input.id!);
    this.#drop(key);
    this.#released.delete(key);
    const owned = { ...input, metadata: { ...input.metadata, [CONSUL_META.agent]: this.#agentId } };
    const entry = newEntry(owned, checks.map((definition, i) => ({ definition, status: initial[i] ?? 'critical' })), maintenance);
    entry.input = withHealth(owned, entry);
    // Known before the write lands, so the mirror's echo of it is not taken for someone else's record.
    this.#entries.set(key, entry);
    try {
      const { record } = await this.#store.register(entry.input);
      if (!entry.closed) this.#run(key, entry);
      return record;
    } catch (err) {
      this.#drop(key);
      throw err;
    }
  }

  /**
   * Takes over the checks of a record run by another proxy (or by none, e.g. after
   * a restart): writes this agent's id into it, so the other proxy stops running them.
   */
  adopt(record: InstanceRecord): boolean {
    const key = instanceKey(record.service, record.id);
    if (this.#entries.has(key)) return true;
    const entry = entryOf(record, this.#agentId);
    if (!entry) return false;
    this.#released.delete(key);
    this.#entries.set(key, entry);
    this.#run(key, entry);
    void this.#writeHealth(key, entry);
    return true;
  }

  /** Runs what the registry says this agent runs and stops what it no longer does (ownership.ts). */
  #reconcile(service: string, state: ServiceState | undefined): void {
    const running = new Map<string, { confirmed: boolean }>();
    for (const [key, entry] of this.#entries) if (entry.input.service === service) running.set(key, entry);
    const plan = planOwnership(service, state, { agentId: this.#agentId, running, released: this.#released });
    for (const key of plan.confirm) this.#entries.get(key)!.confirmed = true;
    for (const key of plan.drop) this.#drop(key);
    for (const key of plan.forget) this.#released.delete(key);
    for (const record of plan.adopt) {
      const entry = entryOf(record, this.#agentId);
      if (!entry) continue;
      entry.confirmed = true;
      const key = instanceKey(service, record.id);
      this.#entries.set(key, entry);
      this.#run(key, entry);
    }
  }

  /** Starts keeping the entry's lease and running its checks here. */
  #run(key: string, entry: AgentEntry): void {
    for (const run of entry.checks) this.#checkOwners.set(run.definition.id, key);
    this.#scheduleLease(key, entry);
    for (const run of entry.checks) {
      this.#scheduleCheck(key, entry, run);
      if (run.status === 'critical') this.#armDeregister(key, entry, run);
    }
  }

  /** The instance whose check with this id runs here. */
  ownerOfCheck(checkId: string): { readonly service: string; readonly id: string } | undefined {
    const key = this.#checkOwners.get(checkId);
    const input = key === undefined ? undefined : this.#entries.get(key)?.input;
    return input && { service: input.service, id: input.id! };
  }

  has(service: string, id: string): boolean {
    return this.#entries.has(instanceKey(service, id));
  }

  /**
   * A TTL check's update (`pass`, `warn`, `fail`, `update`). Returns false when no
   * check with this id runs here. Updating a non-TTL check is refused, as Consul does.
   */
  async updateTtl(checkId: string, status: CheckStatus, output: string): Promise<boolean> {
    const key = this.#checkOwners.get(checkId);
    const entry = key === undefined ? undefined : this.#entries.get(key);
    const run = entry?.checks.find((c) => c.definition.id === checkId);
    if (!key || !entry || !run) return false;
    if (run.definition.type !== 'ttl') throw invalid('CheckID', `check "${checkId}" is not a TTL check`);
    this.#scheduleCheck(key, entry, run);
    await this.#setCheck(key, entry, run, status, output);
    return true;
  }

  async setMaintenance(service: string, id: string, enable: boolean): Promise<boolean> {
    const key = instanceKey(service, id);
    const entry = this.#entries.get(key);
    if (!entry) return false;
    if (entry.maintenance === enable) return true;
    entry.maintenance = enable;
    await this.#writeHealth(key, entry);
    return true;
  }

  /** Stops running the instance's checks here (the caller deregisters it). */
  forget(service: string, id: string): void {
    const key = instanceKey(service, id);
    this.#drop(key);
    this.#released.add(key);
  }

  /** Outputs of the checks run here, for health answers. */
  outputOf(checkId: string): string {
    const key = this.#checkOwners.get(checkId);
    const entry = key === undefined ? undefined : this.#entries.get(key);
    return entry?.checks.find((c) => c.definition.id === checkId)?.output ?? '';
  }

  close(): void {
    this.#unsubscribe();
    for (const key of [...this.#entries.keys()]) this.#drop(key);
  }

  #drop(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    entry.closed = true;
    entry.leaseTimer?.cancel();
    for (const run of entry.checks) {
      run.timer?.cancel();
      run.deregisterTimer?.cancel();
      if (this.#checkOwners.get(run.definition.id) === key) this.#checkOwners.delete(run.definition.id);
    }
    this.#entries.delete(key);
  }

  #scheduleLease(key: string, entry: AgentEntry): void {
    const every = Math.max(200, (this.#leaseSeconds * 1000) / 3);
    entry.leaseTimer = this.#clock.setTimer(() => {
      if (entry.closed) return;
      void this.#store.renew(entry.input.service, entry.input.id!).then(
        (record) => {
          if (entry.closed) return;
          // Removed behind our back (native API, CLI): the service is no longer ours to keep.
          if (!record) return this.#drop(key);
          this.#scheduleLease(key, entry);
        },
        (err: unknown) => {
          this.#log.warn({ err: describeError(err), service: entry.input.service, id: entry.input.id }, 'consul lease renewal failed');
          if (!entry.closed) this.#scheduleLease(key, entry);
        },
      );
    }, every);
  }

  #scheduleCheck(key: string, entry: AgentEntry, run: CheckRun): void {
    run.timer?.cancel();
    const { definition } = run;
    if (definition.type === 'ttl') {
      run.timer = this.#clock.setTimer(() => {
        if (!entry.closed) void this.#setCheck(key, entry, run, 'critical', 'TTL expired');
      }, definition.ttlMs!);
      return;
    }
    run.timer = this.#clock.setTimer(() => {
      if (entry.closed) return;
      void probe(definition).then((result) => {
        if (entry.closed) return;
        this.#scheduleCheck(key, entry, run);
        return this.#setCheck(key, entry, run, result.status, result.output);
      });
    }, run.timer === undefined && run.status === 'critical' ? 0 : definition.intervalMs!);
  }

  async #setCheck(key: string, entry: AgentEntry, run: CheckRun, status: CheckStatus, output: string): Promise<void> {
    run.output = output.slice(0, 4096);
    if (status === 'critical') this.#armDeregister(key, entry, run);
    else {
      run.deregisterTimer?.cancel();
      run.deregisterTimer = undefined;
    }
    if (run.status === status) return;
    run.status = status;
    await this.#writeHealth(key, entry);
  }

  /** Starts DeregisterCriticalServiceAfter's clock when the check turns critical. */
  #armDeregister(key: string, entry: AgentEntry, run: CheckRun): void {
    const after = run.definition.deregisterAfterMs;
    if (after === undefined || run.deregisterTimer) return;
    run.deregisterTimer = this.#clock.setTimer(() => {
      if (entry.closed || run.status !== 'critical') return;
      const { service, id } = entry.input;
      this.forget(service, id!);
      this.#log.info({ service, id, check: run.definition.id }, 'consul check critical too long; deregistering');
      void this.#store.deregister(service, id!).catch((err: unknown) => {
        this.#log.warn({ err: describeError(err), service, id }, 'consul deregistration failed');
      });
    }, after);
  }

  /** Writes the entry's aggregate health (a registry change event), in order. */
  #writeHealth(key: string, entry: AgentEntry): Promise<void> {
    entry.writing = entry.writing.then(async () => {
      if (entry.closed) return;
      entry.input = withHealth(entry.input, entry);
      try {
        await this.#store.register(entry.input);
      } catch (err) {
        this.#log.warn({ err: describeError(err), key }, 'consul check status not stored');
      }
    });
    return entry.writing;
  }
}
