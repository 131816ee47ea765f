/**
 * The agent half of the Consul compatibility layer: the checks of services
 * registered through `PUT /v1/agent/service/register`, run in the Waypost
 * process that received the registration, as a Consul agent runs the checks of
 * its local services. (Check updates such as `/v1/agent/check/pass/…` therefore
 * belong to that process; with several proxies, point a service's Consul client
 * at one of them. A process that gets an update for a check it does not run,
 * e.g. after a restart, adopts the check from the record's metadata.)
 *
 * How Consul's model maps onto leases and statuses:
 * - The instance's registry lease is kept alive by this agent (renewed every
 *   third of it) for as long as the service is registered here, like a Consul
 *   agent holding its services: if this process dies, the lease runs out.
 * - TTL check: not passed within TTL → critical. HTTP check: 2xx passing, 429
 *   warning, anything else (or no answer within Timeout) critical. TCP check:
 *   connected passing, else critical. Checks start critical unless `Status` says.
 * - Any critical check, or maintenance mode → status OUT_OF_SERVICE (no traffic,
 *   still registered, shown as critical); otherwise UP. A warning keeps UP
 *   (Consul's DNS serves warning instances too) but is not `?passing`.
 * - DeregisterCriticalServiceAfter: a check critical that long deregisters the
 *   instance.
 * The aggregate and each check's status live in the record's metadata
 * (`consul.check`, `consul.checks`), so every proxy's mirror can answer health
 * queries; only status transitions are writes, passes are lease renewals.
 */
import http from 'node:http';
import net from 'node:net';
import type { Clock, TimerHandle } from '../clock.js';
import { describeError, invalid } from '../errors.js';
import type { Logger } from '../log.js';
import type { RegistryStore } from '../registry/store.js';
import type { InstanceRecord, RegistrationInput } from '../types.js';
import { parseBoundedJson } from '../admin/bounded-json.js';

export type CheckStatus = 'passing' | 'warning' | 'critical';
export const CHECK_STATUSES: readonly CheckStatus[] = ['passing', 'warning', 'critical'];

export interface CheckDefinition {
  readonly id: string;
  readonly name: string;
  readonly type: 'ttl' | 'http' | 'tcp';
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
} as const;

interface StoredCheck {
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

interface CheckRun {
  readonly definition: CheckDefinition;
  status: CheckStatus;
  output: string;
  timer: TimerHandle | undefined;
  deregisterTimer: TimerHandle | undefined;
}

interface AgentEntry {
  /** The registration as last written (status and check metadata are rewritten on transitions). */
  input: RegistrationInput;
  readonly checks: CheckRun[];
  maintenance: boolean;
  leaseTimer: TimerHandle | undefined;
  closed: boolean;
  /** Serialises this entry's store writes so transitions land in order. */
  writing: Promise<void>;
}

export interface ConsulAgentOptions {
  store: RegistryStore;
  clock: Clock;
  logger: Logger;
  /** The lease of every Consul-registered record, in seconds. */
  leaseSeconds: number;
}

/** Consul's default HTTP/TCP check timeout. */
const DEFAULT_CHECK_TIMEOUT_MS = 10_000;

export class ConsulAgent {
  readonly #store: RegistryStore;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #leaseSeconds: number;
  /** Keyed by `service/id`. */
  readonly #entries = new Map<string, AgentEntry>();
  /** Check id → entry key. */
  readonly #checkOwners = new Map<string, string>();

  constructor(options: ConsulAgentOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#log = options.logger;
    this.#leaseSeconds = options.leaseSeconds;
  }

  get leaseSeconds(): number {
    return this.#leaseSeconds;
  }

  /**
   * Stores a registration and starts running its checks here (replacing any
   * earlier entry for the same instance). `initial` gives each check's starting status.
   */
  async register(input: RegistrationInput, checks: readonly CheckDefinition[], initial: readonly CheckStatus[], maintenance = false): Promise<InstanceRecord> {
    const key = `${input.service}/${input.id}`;
    this.#drop(key);
    const entry: AgentEntry = {
      input,
      checks: checks.map((definition, i) => ({ definition, status: initial[i] ?? 'critical', output: '', timer: undefined, deregisterTimer: undefined })),
      maintenance,
      leaseTimer: undefined,
      closed: false,
      writing: Promise.resolve(),
    };
    entry.input = withHealth(input, entry);
    const { record } = await this.#store.register(entry.input);
    this.#entries.set(key, entry);
    for (const run of entry.checks) this.#checkOwners.set(run.definition.id, key);
    this.#scheduleLease(key, entry);
    for (const run of entry.checks) {
      this.#scheduleCheck(key, entry, run);
      if (run.status === 'critical') this.#armDeregister(key, entry, run);
    }
    return record;
  }

  /** Takes over the checks of a record registered by another process (or before a restart). */
  adopt(record: InstanceRecord): boolean {
    const key = `${record.service}/${record.id}`;
    if (this.#entries.has(key)) return true;
    const stored = parseStoredChecks(record.metadata[CONSUL_META.checks]);
    if (!stored) return false;
    const input: RegistrationInput = {
      service: record.service,
      id: record.id,
      host: record.host,
      port: record.port,
      weight: record.weight,
      zone: record.zone,
      tags: record.tags,
      metadata: record.metadata,
      status: record.status,
      ttl: record.ttl,
    };
    const entry: AgentEntry = {
      input,
      checks: stored.map((check) => ({ definition: definitionOf(check), status: check.status, output: '', timer: undefined, deregisterTimer: undefined })),
      maintenance: record.metadata[CONSUL_META.maintenance] === 'true',
      leaseTimer: undefined,
      closed: false,
      writing: Promise.resolve(),
    };
    this.#entries.set(key, entry);
    for (const run of entry.checks) this.#checkOwners.set(run.definition.id, key);
    this.#scheduleLease(key, entry);
    for (const run of entry.checks) {
      this.#scheduleCheck(key, entry, run);
      if (run.status === 'critical') this.#armDeregister(key, entry, run);
    }
    return true;
  }

  /** The `service/id` key of the instance that owns a check run here. */
  ownerOfCheck(checkId: string): string | undefined {
    return this.#checkOwners.get(checkId);
  }

  has(service: string, id: string): boolean {
    return this.#entries.has(`${service}/${id}`);
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
    const key = `${service}/${id}`;
    const entry = this.#entries.get(key);
    if (!entry) return false;
    if (entry.maintenance === enable) return true;
    entry.maintenance = enable;
    await this.#writeHealth(key, entry);
    return true;
  }

  /** Stops running the instance's checks here (the caller deregisters it). */
  forget(service: string, id: string): void {
    this.#drop(`${service}/${id}`);
  }

  /** Outputs of the checks run here, for health answers. */
  outputOf(checkId: string): string {
    const key = this.#checkOwners.get(checkId);
    const entry = key === undefined ? undefined : this.#entries.get(key);
    return entry?.checks.find((c) => c.definition.id === checkId)?.output ?? '';
  }

  close(): void {
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
      this.#drop(key);
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

/** Worst of the checks; none → passing. */
export function aggregateStatus(statuses: Iterable<CheckStatus>): CheckStatus {
  let worst: CheckStatus = 'passing';
  for (const status of statuses) {
    if (status === 'critical') return 'critical';
    if (status === 'warning') worst = 'warning';
  }
  return worst;
}

function withHealth(input: RegistrationInput, entry: AgentEntry): RegistrationInput {
  const aggregate = aggregateStatus(entry.checks.map((run) => run.status));
  const metadata: Record<string, string> = { ...input.metadata, [CONSUL_META.check]: aggregate };
  if (entry.checks.length > 0) metadata[CONSUL_META.checks] = JSON.stringify(entry.checks.map(storedCheck));
  else delete metadata[CONSUL_META.checks];
  if (entry.maintenance) metadata[CONSUL_META.maintenance] = 'true';
  else delete metadata[CONSUL_META.maintenance];
  const down = entry.maintenance || aggregate === 'critical';
  return { ...input, metadata, status: down ? 'OUT_OF_SERVICE' : 'UP' };
}

function storedCheck(run: CheckRun): StoredCheck {
  const d = run.definition;
  const stored: StoredCheck = { id: d.id, name: d.name, type: d.type, status: run.status };
  if (d.ttlMs !== undefined) stored.ttl = d.ttlMs;
  if (d.intervalMs !== undefined) stored.interval = d.intervalMs;
  if (d.timeoutMs !== undefined) stored.timeout = d.timeoutMs;
  if (d.target !== undefined) stored.target = d.target;
  if (d.method !== undefined) stored.method = d.method;
  if (d.deregisterAfterMs !== undefined) stored.dcsa = d.deregisterAfterMs;
  return stored;
}

function definitionOf(stored: StoredCheck): CheckDefinition {
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
    const parsed = parseBoundedJson(text);
    if (!Array.isArray(parsed)) return undefined;
    return parsed.filter(
      (c): c is StoredCheck =>
        typeof c === 'object' && c !== null && typeof c.id === 'string' && CHECK_STATUSES.includes(c.status) && ['ttl', 'http', 'tcp'].includes(c.type),
    );
  } catch {
    return undefined;
  }
}

export interface ProbeResult {
  readonly status: CheckStatus;
  readonly output: string;
}

/** One HTTP or TCP check, bounded by its timeout (at most its interval). */
export function probe(definition: CheckDefinition): Promise<ProbeResult> {
  const timeoutMs = Math.min(definition.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS, definition.intervalMs ?? DEFAULT_CHECK_TIMEOUT_MS);
  return definition.type === 'http' ? probeHttp(definition.target!, definition.method ?? 'GET', timeoutMs) : probeTcp(definition.target!, timeoutMs);
}

function probeHttp(url: string, method: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = http.request(url, { method, timeout: timeoutMs, headers: { 'user-agent': 'Consul Health Check (Waypost)' } }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      const status: CheckStatus = code >= 200 && code < 300 ? 'passing' : code === 429 ? 'warning' : 'critical';
      resolve({ status, output: `HTTP ${method} ${url}: ${code}` });
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ status: 'critical', output: `HTTP ${method} ${url}: ${err.message}` }));
    req.end();
  });
}

function probeTcp(target: string, timeoutMs: number): Promise<ProbeResult> {
  const { host, port } = splitHostPort(target);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve({ status: 'passing', output: `TCP connect ${target}: Success` });
    });
    socket.once('timeout', () => socket.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    socket.once('error', (err) => resolve({ status: 'critical', output: `TCP connect ${target}: ${err.message}` }));
  });
}

export function splitHostPort(target: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(target);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port < 1 || port > 65_535) throw invalid('Check.TCP', `TCP must be host:port; got ${JSON.stringify(target.slice(0, 80))}`);
  return { host: match[1]!, port };
}

const GO_DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's duration syntax as Consul takes it (`10s`, `1m30s`, `500ms`); milliseconds, or undefined. */
export function parseGoDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value / 1e6 : undefined;
  if (typeof value !== 'string' || !/^((\d+(\.\d+)?)(ns|us|µs|ms|s|m|h))+$/.test(value)) return undefined;
  let total = 0;
  for (const match of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(match[1]) * GO_DURATION_UNITS[match[2]!]!;
  return total;
}
