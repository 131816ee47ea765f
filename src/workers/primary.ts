/**
 * `--workers N` (N > 1): the node:cluster primary.
 *
 * Why this split: the primary owns the registry store (memory or Redis), its mirror, the
 * single admin API (one port, one source of truth for writes and /metrics) and lease
 * sweeping; each worker runs only the data-path listeners with its own RegistryMirror, fed
 * from the primary over IPC by a read-only store (ipc-store.ts). So the embedded memory
 * store works with workers too, a registry change reaches every worker through one place,
 * and workers never open Redis connections of their own (N workers × a feed connection each).
 * The alternative, every worker following Redis itself, cannot work with the memory store
 * and multiplies Redis connections; the primary relays one feed per worker instead (one
 * store.subscribe per worker subscription: cheap on the memory store, a feed reader each on
 * Redis).
 *
 * Workers accept on the listeners the primary shares with them (cluster's round-robin
 * scheduling by default: the primary accepts and hands connections out in turn;
 * NODE_CLUSTER_SCHED_POLICY=none lets the kernel balance accepts instead, see scheduling.ts).
 * Either way `--listen …:0` still means one port for all workers. /metrics merges every worker's registry
 * (ipc-metrics.ts). SIGTERM: workers stop accepting and drain within timeouts.grace, then
 * the primary closes the registry and exits 0. A worker that dies unexpectedly is logged
 * and forked again after a backoff that doubles on quick successive crashes.
 *
 * Health: active checks run once, here; each verdict goes to every listening worker. Each
 * worker detects outliers on its own traffic and sends its ejections here; the primary
 * applies them (so the admin API and waypost_endpoints show them) and passes them to the
 * other workers, as shared ejections between proxies do through Redis.
 *
 * Reload (SIGHUP to the primary, or POST /v1/admin/reload): the primary reads and validates the
 * configuration once, applies its own part (health checks) and sends it to every listening
 * worker, which applies it (WaypostApp.applyConfig); the reload answers once all replied.
 *
 * Loops: every worker marks forwarded requests with the primary's proxy id (Via), so a
 * request that loops back to any worker, or to the primary's admin API, is recognised.
 */
import cluster, { type Worker } from 'node:cluster';
import { startProxy, type Address, type WaypostApp } from '../app.js';
import type { WaypostConfig } from '../config/schema.js';
import type { ConfigSource } from '../app-reload.js';
import { describeError, WaypostError } from '../errors.js';
import type { Logger } from '../log.js';
import { isWaypostMessage, PendingRequests, type PrimaryMessage, type WorkerMessage } from './ipc.js';
import { ClusterMetrics } from './ipc-metrics.js';
import { RegistryRelay } from './registry-relay.js';
import { schedulingFromEnv } from './scheduling.js';
import { WorkerInflight } from './traffic-relay.js';

/** Workers must all listen within this at start-up. */
const START_TIMEOUT_MS = 30_000;
/** A scrape waits this long for each worker's metrics; a slow worker is left out of that scrape. */
const METRICS_TIMEOUT_MS = 2_000;
const RESTART_MIN_DELAY_MS = 250;
const RESTART_MAX_DELAY_MS = 30_000;
/** A worker that ran this long before dying restarts after the minimum delay again. */
const STABLE_AFTER_MS = 30_000;
/** After the grace period, workers get this much more to exit before SIGKILL. */
const EXIT_MARGIN_MS = 5_000;
/** A reload waits this long for each worker to apply the new configuration (bind, load certificates). */
const RELOAD_TIMEOUT_MS = 30_000;

interface WorkerSlot {
  worker: Worker;
  startedAt: number;
  restartDelayMs: number;
  listening: { http: Address[]; tcp: Address[] } | undefined;
  registry: RegistryRelay;
  pending: PendingRequests;
  /** The configuration this worker was given at start. */
  config: WaypostConfig | undefined;
}

export interface RunningPrimary {
  readonly app: WaypostApp;
  /** The workers write the access log: each is told to reopen it. */
  reopenLogs(): void;
  stop(): Promise<void>;
}

export async function startPrimary(config: WaypostConfig, logger: Logger, configSource?: ConfigSource): Promise<RunningPrimary> {
  const log = logger.child({ component: 'primary' });
  // Checked before anything starts: a bad value is a usage error, not a half-started proxy.
  const scheduling = schedulingFromEnv(process.env);
  const metrics = new ClusterMetrics();
  const inflight = new WorkerInflight();
  const app = await startProxy(config, { logger, metrics, role: 'registry', inflightElsewhere: (service, id) => inflight.of(service, id), ...(configSource ? { configSource } : {}) });
  const slots = new Set<WorkerSlot>();
  let stopping = false;
  let onAllListening: (() => void) | undefined;

  /** Asks every worker; one that does not answer in time is left out of this answer. */
  const askWorkers = async (op: 'metrics' | 'request-counts'): Promise<never[]> => {
    const answers = await Promise.all(
      [...slots].map((slot) =>
        slot.pending
          .request((id) => send(slot, { wp: 'request', id, op }), METRICS_TIMEOUT_MS, `worker ${op}`)
          .catch((err: unknown) => {
            log.warn({ worker: slot.worker.process.pid, op, err: describeError(err) }, 'worker metrics missing from scrape');
            return undefined;
          }),
      ),
    );
    return answers.filter((a): a is never => a !== undefined);
  };
  metrics.setWorkerSource(
    () => askWorkers('metrics'),
    () => askWorkers('request-counts'),
  );

  const send = (slot: WorkerSlot, message: PrimaryMessage): void => {
    if (slot.worker.isConnected()) slot.worker.send(message);
  };

  const onMessage = (slot: WorkerSlot, message: unknown): void => {
    if (!isWaypostMessage(message)) return;
    const m = message as WorkerMessage;
    if (slot.registry.handle(m)) return;
    switch (m.wp) {
      case 'request':
        if (m.op !== 'config') return;
        // The worker starts on the configuration in force; every worker marks Via with the primary's id.
        slot.config = app.config;
        send(slot, { wp: 'reply', id: m.id, ok: true, value: { ...app.config, proxyId: app.proxyId } });
        return;
      case 'reply':
        slot.pending.settle(m);
        return;
      case 'ejection':
        app.outliers.applyShared(m.notice, `worker ${slot.worker.process.pid}`);
        // /v1/stats reads this process's counter; /metrics leaves the primary's request-path series out (it sums the workers').
        metrics.ejections.inc({ service: m.notice.service });
        for (const other of slots) if (other !== slot && other.listening) send(other, { wp: 'ejection', notice: m.notice });
        return;
      case 'traffic':
        if (m.delta !== undefined) metrics.traffic.merge(m.delta);
        inflight.update(slot.worker.id, m.inflight);
        return;
      case 'listening':
        slot.listening = { http: m.http, tcp: m.tcp };
        // A new worker starts from every verdict so far; later ones reach it as they change.
        send(slot, { wp: 'health', verdicts: [...app.pool.activeVerdicts()] });
        // A reload while this worker was starting did not reach it: it takes the configuration in force.
        if (slot.config !== undefined && app.config !== slot.config) void reloadWorker(slot, app.config).catch(() => undefined);
        if ([...slots].every((s) => s.listening)) onAllListening?.();
        return;
    }
  };

  /** Hands a validated configuration to one worker; resolves when it applied it. */
  const reloadWorker = async (slot: WorkerSlot, next: WaypostConfig): Promise<void> => {
    const pid = slot.worker.process.pid;
    try {
      const value = await slot.pending.request((id) => send(slot, { wp: 'reload', id, config: next }), RELOAD_TIMEOUT_MS, `worker ${pid} reload`);
      slot.listening = value as { http: Address[]; tcp: Address[] };
    } catch (err) {
      log.error({ worker: pid, err: describeError(err) }, 'worker could not apply the reloaded configuration');
      throw new Error(`worker ${pid}: ${describeError(err)}`, { cause: err });
    }
  };

  // The primary validated the configuration once; every listening worker applies it before the reload answers.
  app.reloader?.addStep(async (next) => {
    const listening = [...slots].filter((slot) => slot.listening);
    const results = await Promise.allSettled(listening.map((slot) => reloadWorker(slot, next)));
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [describeError(r.reason)] : []));
    if (failed.length > 0) {
      throw new WaypostError('startup', `reload applied by the primary and ${listening.length - failed.length} of ${listening.length} workers; ${failed.join('; ')}`);
    }
    return { workers: listening.length };
  });

  // Active checks run here only, once per instance: every listening worker gets each verdict.
  app.pool.onActiveHealth((service, id, healthy) => {
    for (const slot of slots) if (slot.listening) send(slot, { wp: 'health', verdicts: [{ service, id, healthy }] });
  });

  const fork = (restartDelayMs: number): WorkerSlot => {
    // Every worker marks and detects loops with the primary's id (config.proxyId via its env variable).
    const worker = cluster.fork({ WAYPOST_PROXY_ID: app.proxyId });
    const slot: WorkerSlot = {
      worker,
      startedAt: Date.now(),
      restartDelayMs,
      listening: undefined,
      registry: new RegistryRelay({ store: app.store, mirror: app.mirror, send: (message) => send(slot, message) }),
      pending: new PendingRequests(),
      config: undefined,
    };
    slots.add(slot);
    worker.on('message', (message: unknown) => onMessage(slot, message));
    worker.on('exit', (code, signal) => {
      slots.delete(slot);
      inflight.remove(worker.id);
      slot.registry.close();
      slot.pending.failAll('worker exited');
      if (stopping) return;
      const ranMs = Date.now() - slot.startedAt;
      const delayMs = ranMs >= STABLE_AFTER_MS ? RESTART_MIN_DELAY_MS : Math.min(slot.restartDelayMs * 2, RESTART_MAX_DELAY_MS);
      log.error({ worker: worker.process.pid, code, signal, ranMs, restartInMs: delayMs }, 'worker died unexpectedly; restarting');
      setTimeout(() => {
        if (stopping) return;
        const next = fork(delayMs);
        log.info({ worker: next.worker.process.pid }, 'worker restarted');
      }, delayMs);
    });
    return slot;
  };

  cluster.schedulingPolicy = scheduling.policy;
  const allListening = new Promise<void>((resolve, reject) => {
    onAllListening = resolve;
    // A worker that cannot bind exits and is forked again; if that keeps failing, this fires.
    setTimeout(() => reject(new WaypostError('startup', `workers did not all listen within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS).unref();
  });
  for (let i = 0; i < config.workers; i++) fork(RESTART_MIN_DELAY_MS / 2);

  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const exits = [...slots].map(
      (slot) =>
        new Promise<void>((resolve) => {
          if (slot.worker.isDead()) return resolve();
          slot.worker.once('exit', () => resolve());
          const kill = setTimeout(() => {
            log.warn({ worker: slot.worker.process.pid }, 'worker did not exit in time; killing it');
            slot.worker.process.kill('SIGKILL');
          }, config.timeouts.grace + EXIT_MARGIN_MS);
          kill.unref();
          // A worker still starting has no stop handler yet and nothing to drain: a signal ends it.
          if (slot.listening) send(slot, { wp: 'stop' });
          else slot.worker.process.kill('SIGTERM');
        }),
    );
    await Promise.all(exits);
    await app.stop();
  };

  try {
    await allListening;
  } catch (err) {
    await stop();
    throw err;
  }
  onAllListening = undefined;
  const first = [...slots][0]!.listening!;
  log.info(
    { admin: app.addresses.admin, http: first.http, tcp: first.tcp, workers: config.workers, scheduling: scheduling.name, store: app.store.kind, engine: config.engine },
    'waypost started',
  );
  const reopenLogs = (): void => {
    // A worker still starting has no SIGHUP handler yet (the signal would end it); it opens the file fresh anyway.
    for (const slot of slots) if (slot.listening && !slot.worker.isDead()) slot.worker.process.kill('SIGHUP');
  };
  return { app, reopenLogs, stop };
}
