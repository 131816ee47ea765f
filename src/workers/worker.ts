/**
 * A node:cluster worker (see primary.ts for the design): the data-path listeners with a
 * mirror fed by the primary over IPC and active-health verdicts from the primary's checks. It
 * tells the primary where it listens, answers its metrics requests, applies the configurations
 * the primary reloads and stops gracefully when asked (or on its own SIGTERM).
 */
import { startProxy, type WaypostApp } from '../app.js';
import { deepFreeze } from '../config/load.js';
import type { WaypostConfig } from '../config/schema.js';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { usesRedis } from '../registry/create-store.js';
import { isWaypostMessage, PendingRequests, type PrimaryMessage } from './ipc.js';
import { workerMetricsJson } from './ipc-metrics.js';
import { IpcRegistryStore, processChannel, type PrimaryChannel } from './ipc-store.js';
import { startTrafficRelay } from './traffic-relay.js';

/** The primary answers at once; this only bounds a primary that hangs. */
const CONFIG_TIMEOUT_MS = 30_000;

export interface WorkerOptions {
  /** Called when the primary asks this worker to stop (the same path as SIGTERM). */
  onStopRequest: () => void;
  channel?: PrimaryChannel;
}

/** A worker's configuration at start: the primary's, as it is now (validated there once; a reload may have changed it). */
export async function configFromPrimary(channel: PrimaryChannel = processChannel): Promise<WaypostConfig> {
  const pending = new PendingRequests();
  const detach = channel.onMessage((message) => {
    const m = message as PrimaryMessage;
    if (isWaypostMessage(message) && m.wp === 'reply') pending.settle(m);
  });
  try {
    const config = await pending.request((id) => channel.send({ wp: 'request', id, op: 'config' }), CONFIG_TIMEOUT_MS, 'configuration from the primary');
    return deepFreeze(config as WaypostConfig);
  } finally {
    detach();
  }
}

export async function startWorker(config: WaypostConfig, logger: Logger, options: WorkerOptions): Promise<WaypostApp> {
  const channel = options.channel ?? processChannel;
  const store = new IpcRegistryStore(usesRedis(config) ? 'redis' : 'memory', channel);
  const app = await startProxy(config, { logger, store, role: 'listeners' });
  // The dashboard is the primary's: this worker's traffic and in-flight counts go there.
  const traffic = startTrafficRelay(app.metrics.traffic, app.pool, (message) => channel.send(message));
  channel.onMessage((message) => {
    if (!isWaypostMessage(message)) return;
    const m = message as PrimaryMessage;
    if (m.wp === 'stop') {
      traffic.flush();
      options.onStopRequest();
    } else if (m.wp === 'health') {
      for (const { service, id, healthy } of m.verdicts) app.pool.setActiveHealthy(service, id, healthy);
    } else if (m.wp === 'ejection') app.outliers.applyShared(m.notice, 'cluster');
    else if (m.wp === 'reload') {
      // Validated by the primary; frozen here as loadConfig freezes what it returns.
      app.applyConfig(deepFreeze(m.config)).then(
        () => channel.send({ wp: 'reply', id: m.id, ok: true, value: { http: app.addresses.http, tcp: app.addresses.tcp } }),
        (err: unknown) => channel.send({ wp: 'reply', id: m.id, ok: false, error: describeError(err) }),
      );
    } else if (m.wp === 'request') {
      (m.op === 'metrics' ? workerMetricsJson(app.metrics) : app.metrics.requestCounts()).then(
        (value) => channel.send({ wp: 'reply', id: m.id, ok: true, value }),
        (err: unknown) => channel.send({ wp: 'reply', id: m.id, ok: false, error: describeError(err) }),
      );
    }
  });
  // This worker's ejections reach the primary (admin health, waypost_endpoints) and the other workers.
  app.outliers.addEjectListener((notice) => channel.send({ wp: 'ejection', notice }));
  // The primary is gone (crashed or killed): nothing feeds the mirror any more.
  if (channel === processChannel) {
    process.once('disconnect', () => {
      traffic.close();
      options.onStopRequest();
    });
  }
  channel.send({ wp: 'listening', http: app.addresses.http, tcp: app.addresses.tcp });
  return app;
}
