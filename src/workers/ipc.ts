/**
 * The messages between the cluster primary and its workers (node:cluster IPC, JSON), and a
 * small request/reply helper on top of them. Every message carries `wp` so that messages
 * of other libraries on the same channel are ignored.
 */
import type { Address } from '../app.js';
import type { WaypostConfig } from '../config/schema.js';
import type { EjectionNotice } from '../health/passive.js';
import type { ChangeEvent } from '../registry/store.js';
import type { TrafficDelta } from '../traffic/recorder.js';

/** Worker → primary. */
export type WorkerMessage =
  | { wp: 'request'; id: number; op: 'state' }
  /** At start: the configuration in force (the primary's, which a reload may have changed since the file was read). */
  | { wp: 'request'; id: number; op: 'config' }
  | { wp: 'reply'; id: number; ok: true; value: unknown }
  | { wp: 'reply'; id: number; ok: false; error: string }
  | { wp: 'subscribe'; sub: number; from: number }
  | { wp: 'resume'; sub: number; revision: number }
  | { wp: 'unsubscribe'; sub: number }
  | { wp: 'listening'; http: Address[]; tcp: Address[] }
  /** An ejection this worker decided (the primary applies it and passes it to the others). */
  | { wp: 'ejection'; notice: EjectionNotice }
  /** Once a second: the dashboard's traffic buckets since the last one, and in-flight counts (traffic-relay.ts). */
  | { wp: 'traffic'; delta?: TrafficDelta; inflight: [service: string, id: string, inflight: number][] };

/** Primary → worker. */
export type PrimaryMessage =
  /** `metrics`: the worker's share of /metrics; `request-counts`: its waypost_requests_total values (/v1/stats). */
  | { wp: 'request'; id: number; op: 'metrics' | 'request-counts' }
  | { wp: 'reply'; id: number; ok: true; value: unknown }
  | { wp: 'reply'; id: number; ok: false; error: string }
  | { wp: 'events'; sub: number; events: readonly ChangeEvent[] }
  | { wp: 'reset'; sub: number; reason: string }
  | { wp: 'connection'; sub: number; connected: boolean }
  /** Active-health verdicts: the primary runs the checks once for all workers. */
  | { wp: 'health'; verdicts: readonly ActiveVerdict[] }
  /** Another worker's ejection: every process of the cluster shares what one of them saw. */
  | { wp: 'ejection'; notice: EjectionNotice }
  /** A configuration the primary loaded and validated: the worker applies it and replies (WaypostApp.applyConfig). */
  | { wp: 'reload'; id: number; config: WaypostConfig }
  | { wp: 'stop' };

export interface ActiveVerdict {
  service: string;
  id: string;
  healthy: boolean | undefined;
}

export function isWaypostMessage(message: unknown): message is { wp: string } {
  return typeof message === 'object' && message !== null && typeof (message as { wp?: unknown }).wp === 'string';
}

/** Outstanding requests on one channel, answered by `reply` messages; each times out on its own. */
export class PendingRequests {
  #next = 1;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();

  /** Sends through `send` and resolves with the reply's value. */
  request(send: (id: number) => void, timeoutMs: number, what: string): Promise<unknown> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${what}: no answer over IPC within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.#pending.set(id, { resolve, reject, timer });
      try {
        send(id);
      } catch (err) {
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  settle(reply: { id: number; ok: boolean; value?: unknown; error?: string }): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    clearTimeout(pending.timer);
    if (reply.ok) pending.resolve(reply.value);
    else pending.reject(new Error(reply.error ?? 'request failed'));
  }

  /** The other side is gone: fail everything still waiting. */
  failAll(reason: string): void {
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new Error(reason));
      this.#pending.delete(id);
    }
  }
}
