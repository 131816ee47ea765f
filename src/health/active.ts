/**
 * Active health checks run by the proxy, for the services listed under
 * `health.active` only.
 *
 * Who checks what (so that N proxies × M instances never becomes a check storm):
 * - The sidecar (`waypost register --check-path`) checks its own local app and
 *   reports the verdict through the registry (status UP / OUT_OF_SERVICE). That
 *   is one check per instance however many proxies there are, and every proxy
 *   sees the result through its mirror. This is the default and covers most apps.
 * - A proxy probes instances itself only for services configured under
 *   `health.active` (apps registered without a sidecar, or where the proxy's own
 *   network path matters). Each probe goes out at `interval` ± 10 % jitter, so
 *   proxies started together drift apart instead of probing in lockstep.
 * - Passive outlier detection (passive.ts) needs no probes at all, and its
 *   ejections are shared between proxies (shared-ejections.ts).
 *
 * Per instance: a probe starts only after the previous one finished (the next
 * one is scheduled from its completion), so a slow health endpoint never sees
 * overlapping probes. `fails` consecutive failures flip a healthy (or not yet
 * known) instance to unhealthy; `passes` consecutive passes flip it back.
 *
 * New instances start as unknown (`activeHealthy` undefined), which the
 * eligibility rule treats as eligible: the instance is already UP in the
 * registry (a sidecar checked it), and a proxy restart must not take every
 * instance out of traffic until its first probes finish. The first probe runs
 * within the first tenth of an interval.
 *
 * Removed instances stop being probed (an in-flight probe's result is dropped).
 *
 * Only UP instances are probed: DRAINING and OUT_OF_SERVICE ones take no new
 * traffic, so probing them is load for nothing (their verdict is kept, unused).
 * An instance this checker saw in another state that comes back UP is not
 * trusted on its old verdict: it starts unhealthy, is probed within the first
 * tenth of an interval, and that first probe decides (pass → healthy at once, as
 * Envoy does for new hosts; fail → the usual `passes` are needed). Weight 0 is
 * not a pause: weights change with every capacity report.
 *
 * Checks are per service, not per route: an instance's health is a property of
 * the instance, and every route to a service picks from the same endpoint set, so
 * a route cannot ask for its own check path (give the service one path that
 * covers what its routes need).
 */
import http from 'node:http';
import net from 'node:net';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import type { ActiveCheckConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { ServiceState } from '../registry/store.js';
import type { InstanceRecord } from '../types.js';
import type { EndpointPool } from './state.js';
import { probeGrpcHealth } from './grpc-probe.js';

/** Bytes of a health response read before the connection is dropped. */
const RESPONSE_READ_CAP = 4096;
/** Interval jitter: ± this share. */
const JITTER = 0.1;

export interface ActiveCheckSource {
  service(name: string): ServiceState | undefined;
  /** Called with the new state (or undefined) whenever a service changes; returns an unsubscribe. */
  onChange(listener: (service: string, state: ServiceState | undefined) => void): () => void;
}

export interface ActiveCheckerOptions {
  pool: EndpointPool;
  source: ActiveCheckSource;
  /** `health.active`: service name → check. */
  checks: Readonly<Record<string, ActiveCheckConfig>>;
  logger: Logger;
  /** @default systemClock */
  clock?: Clock;
  /** 0 ≤ x < 1; injected for tests. @default Math.random */
  random?: () => number;
  /** Observes every finished probe (diagnostics and tests). */
  onProbe?: (result: ProbeResult) => void;
}

export interface ProbeResult {
  service: string;
  id: string;
  ok: boolean;
  /** Why a probe failed: `status_503`, `timeout`, `ECONNREFUSED` … */
  detail: string;
  /** The pool's verdict after this probe. */
  healthy: boolean | undefined;
}

interface Prober {
  record: InstanceRecord;
  passes: number;
  fails: number;
  timer: TimerHandle | undefined;
  probing: boolean;
  stopped: boolean;
  /** Back to UP after a pause: the next probe alone decides the verdict. */
  requalifying: boolean;
}

/** Stands in for an instance that is not UP: not probed, but remembered so its return to UP is noticed. */
const RESTING = 'resting';
type Slot = Prober | typeof RESTING;

interface ProbeOutcome {
  ok: boolean;
  detail: string;
}

export class ActiveChecker {
  readonly #pool: EndpointPool;
  readonly #source: ActiveCheckSource;
  readonly #checks: ReadonlyMap<string, ActiveCheckConfig>;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #onProbe: ((result: ProbeResult) => void) | undefined;
  /** service → id → prober (or RESTING). */
  readonly #probers = new Map<string, Map<string, Slot>>();
  /** Cancels of probes in flight, so close() leaves no socket behind. */
  readonly #inflight = new Set<() => void>();
  #unsubscribe: (() => void) | undefined;
  #closed = false;

  constructor(options: ActiveCheckerOptions) {
    this.#pool = options.pool;
    this.#source = options.source;
    this.#checks = new Map(Object.entries(options.checks));
    this.#log = options.logger.child({ component: 'active-health' });
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#onProbe = options.onProbe;
  }

  /** Start probing the configured services' current instances and follow changes. */
  start(): void {
    if (this.#closed || this.#unsubscribe !== undefined || this.#checks.size === 0) return;
    this.#unsubscribe = this.#source.onChange((service, state) => {
      if (this.#checks.has(service)) this.#reconcile(service, state);
    });
    for (const service of this.#checks.keys()) this.#reconcile(service, this.#source.service(service));
  }

  /** Instances currently probed (for tests and diagnostics). */
  probedCount(service?: string): number {
    let n = 0;
    for (const [name, probers] of this.#probers) {
      if (service !== undefined && name !== service) continue;
      for (const slot of probers.values()) if (slot !== RESTING) n += 1;
    }
    return n;
  }

  close(): void {
    this.#closed = true;
    this.#unsubscribe?.();
    for (const probers of this.#probers.values()) for (const slot of probers.values()) this.#stop(slot);
    this.#probers.clear();
    for (const cancel of [...this.#inflight]) cancel();
  }

  #reconcile(service: string, state: ServiceState | undefined): void {
    if (this.#closed) return;
    const check = this.#checks.get(service)!;
    let probers = this.#probers.get(service);
    if (probers === undefined) {
      probers = new Map();
      this.#probers.set(service, probers);
    }
    const live = new Set<string>();
    for (const record of state?.instances ?? []) {
      live.add(record.id);
      const known = probers.get(record.id);
      if (record.status !== 'UP') {
        if (known !== undefined) this.#stop(known);
        probers.set(record.id, RESTING);
      } else if (known === undefined || known === RESTING) {
        const requalifying = known === RESTING;
        // A returning instance is not trusted on the verdict it had before it left.
        if (requalifying) this.#pool.setActiveHealthy(service, record.id, false);
        const prober: Prober = { record, passes: 0, fails: 0, timer: undefined, probing: false, stopped: false, requalifying };
        probers.set(record.id, prober);
        this.#schedule(service, check, prober, check.interval * JITTER * this.#random());
      } else {
        // Same id, maybe a new address: the next probe uses the current record.
        known.record = record;
      }
    }
    for (const [id, slot] of probers) {
      if (!live.has(id)) {
        this.#stop(slot);
        probers.delete(id);
      }
    }
  }

  #stop(prober: Slot): void {
    if (prober === RESTING) return;
    prober.stopped = true;
    prober.timer?.cancel();
    prober.timer = undefined;
  }

  #schedule(service: string, check: ActiveCheckConfig, prober: Prober, delayMs: number): void {
    if (prober.stopped) return;
    prober.timer = this.#clock.setTimer(() => {
      prober.timer = undefined;
      void this.#probe(service, check, prober);
    }, delayMs);
  }

  async #probe(service: string, check: ActiveCheckConfig, prober: Prober): Promise<void> {
    if (prober.stopped || prober.probing) return;
    prober.probing = true;
    const { id } = prober.record;
    let outcome: ProbeOutcome;
    try {
      outcome = await this.#run(check, prober.record);
    } finally {
      prober.probing = false;
    }
    if (prober.stopped || this.#closed) return;
    const healthy = this.#record(service, check, prober, outcome.ok, outcome.detail);
    this.#onProbe?.({ service, id, ok: outcome.ok, detail: outcome.detail, healthy });
    const jitter = 1 - JITTER + 2 * JITTER * this.#random();
    this.#schedule(service, check, prober, check.interval * jitter);
  }

  /** Count the result and flip the pool's verdict at exactly the threshold. */
  #record(service: string, check: ActiveCheckConfig, prober: Prober, ok: boolean, detail: string): boolean | undefined {
    const { id } = prober.record;
    const current = this.#pool.peek(service, id)?.activeHealthy;
    const requalifying = prober.requalifying;
    prober.requalifying = false;
    if (ok) {
      prober.fails = 0;
      prober.passes += 1;
      if (current !== true && (requalifying || prober.passes >= check.passes)) {
        this.#pool.setActiveHealthy(service, id, true);
        if (current === false) this.#log.info({ service, id, passes: prober.passes }, 'active check passing: instance healthy');
        return true;
      }
    } else {
      prober.passes = 0;
      prober.fails += 1;
      if (current !== false && prober.fails >= check.fails) {
        this.#pool.setActiveHealthy(service, id, false);
        this.#log.warn({ service, id, fails: prober.fails, detail }, 'active check failing: instance unhealthy');
        return false;
      }
    }
    return current;
  }

  #run(check: ActiveCheckConfig, record: InstanceRecord): Promise<ProbeOutcome> {
    const { host, port } = record;
    if (check.type === 'tcp') return this.#tcp(check, host, port);
    if (check.type === 'grpc') return this.#grpc(check, host, port, record.protocol === 'h2');
    return this.#http(check, host, port);
  }

  /** grpc.health.v1 Check: SERVING passes, anything else (NOT_SERVING, an error status) fails. */
  #grpc(check: ActiveCheckConfig, host: string, port: number, tls: boolean): Promise<ProbeOutcome> {
    return this.#attempt(check, (finish) => {
      // The probe's own timeout is a backstop: the check's timeout (in #attempt) ends it first.
      const probe = probeGrpcHealth({ host, port, service: check.grpcService, timeoutMs: check.timeout + 1000, tls });
      void probe.result.then((failure) => finish(failure === undefined, failure ?? 'serving'));
      return { destroy: probe.cancel };
    });
  }

  #http(check: ActiveCheckConfig, host: string, port: number): Promise<ProbeOutcome> {
    const [low, high] = check.expectStatus;
    return this.#attempt(check, (finish) => {
      const req = http.request({
        host,
        port,
        path: check.path,
        method: 'GET',
        // One connection per probe, closed after: no pooled socket can hide a dead instance.
        agent: false,
        headers: { connection: 'close', 'user-agent': 'waypost-health-check' },
      });
      req.once('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? 'error'));
      req.once('response', (res) => {
        const status = res.statusCode ?? 0;
        const ok = status >= low && status <= high;
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read >= RESPONSE_READ_CAP) finish(ok, `status_${status}`);
        });
        res.once('end', () => finish(ok, `status_${status}`));
        res.once('error', () => finish(ok, `status_${status}`));
      });
      req.end();
      return req;
    });
  }

  #tcp(check: ActiveCheckConfig, host: string, port: number): Promise<ProbeOutcome> {
    return this.#attempt(check, (finish) => {
      const socket = net.connect({ host, port });
      socket.once('connect', () => finish(true, 'connected'));
      socket.once('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? 'error'));
      return socket;
    });
  }

  /**
   * One probe: `start` opens it and returns what to destroy when it ends. It ends once, on
   * the first of its own outcome, the check's timeout or close().
   */
  #attempt(check: ActiveCheckConfig, start: (finish: (ok: boolean, detail: string) => void) => { destroy(): void }): Promise<ProbeOutcome> {
    return new Promise((resolve) => {
      let settled = false;
      let opened: { destroy(): void } | undefined;
      const finish = (ok: boolean, detail: string): void => {
        if (settled) return;
        settled = true;
        timer.cancel();
        this.#inflight.delete(cancel);
        opened?.destroy();
        resolve({ ok, detail });
      };
      const cancel = (): void => finish(false, 'closed');
      const timer = this.#clock.setTimer(() => finish(false, 'timeout'), check.timeout);
      this.#inflight.add(cancel);
      opened = start(finish);
      if (settled) opened.destroy();
    });
  }
}
