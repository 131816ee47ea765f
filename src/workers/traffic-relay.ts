/**
 * With `--workers N` the requests are served by the workers, but the dashboard is the
 * primary's: each worker sends, once a second, the traffic it recorded since the last
 * send (TrafficRecorder.drain: the 10 s buckets, added into the primary's series) and
 * its endpoints' in-flight counts (the latest report of each worker replaces its last).
 */
import type { EndpointPool } from '../health/state.js';
import type { TrafficRecorder } from '../traffic/recorder.js';
import { instanceKey } from '../types.js';
import type { WorkerMessage } from './ipc.js';

export const TRAFFIC_RELAY_INTERVAL_MS = 1_000;

type TrafficMessage = Extract<WorkerMessage, { wp: 'traffic' }>;

export interface TrafficRelay {
  /** Send now what is pending (the primary asked this worker to stop: it may not live another interval). */
  flush(): void;
  /** Stop sending (the channel to the primary is gone). */
  close(): void;
}

/** Worker side: sends what changed every interval. */
export function startTrafficRelay(traffic: TrafficRecorder, pool: EndpointPool, send: (message: TrafficMessage) => void): TrafficRelay {
  let reportedBusy = false;
  const flush = (): void => {
    const delta = traffic.drain();
    const inflight = [...pool.busy()];
    // An empty in-flight list is sent once after a busy one, so the primary's counts fall to 0.
    if (delta === undefined && inflight.length === 0 && !reportedBusy) return;
    reportedBusy = inflight.length > 0;
    send(delta === undefined ? { wp: 'traffic', inflight } : { wp: 'traffic', delta, inflight });
  };
  const timer = setInterval(flush, TRAFFIC_RELAY_INTERVAL_MS);
  timer.unref();
  return { flush, close: () => clearInterval(timer) };
}

/** Primary side: every worker's latest in-flight counts, summed per endpoint. */
export class WorkerInflight {
  readonly #byWorker = new Map<number, Map<string, number>>();

  /** A worker's report; malformed entries (it crossed a process boundary) are skipped. */
  update(worker: number, inflight: unknown): void {
    const counts = new Map<string, number>();
    if (Array.isArray(inflight)) {
      for (const entry of inflight) {
        if (!Array.isArray(entry)) continue;
        const [service, id, n] = entry as unknown[];
        if (typeof service === 'string' && typeof id === 'string' && typeof n === 'number' && n > 0) counts.set(instanceKey(service, id), n);
      }
    }
    if (counts.size === 0) this.#byWorker.delete(worker);
    else this.#byWorker.set(worker, counts);
  }

  /** A worker exited: its requests ended with it. */
  remove(worker: number): void {
    this.#byWorker.delete(worker);
  }

  of(service: string, id: string): number {
    const key = instanceKey(service, id);
    let sum = 0;
    for (const counts of this.#byWorker.values()) sum += counts.get(key) ?? 0;
    return sum;
  }
}
