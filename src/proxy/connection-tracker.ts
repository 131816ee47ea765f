/**
 * ConnectionTracker: the registry of open long-lived client connections
 * (upgraded WebSockets and TCP-listener connections), per instance, so that
 * draining and shutdown can end them.
 *
 * Invariants:
 * - A registry change touches only the connections of the instance it is about.
 *   A change to another instance, another service or a whole-snapshot swap never
 *   closes anything (Traefik drops WebSockets on every refresh; we must not).
 * - An instance that is deregistered or set DRAINING keeps its open connections
 *   for `drainTimeoutMs`, then they are closed cleanly (WebSocket: close frame
 *   1001). If the instance is UP again before then, the drain is cancelled.
 * - While open, each connection counts in `endpoint.stats.inflight`, so
 *   least-connections and bounded-load hashing see it.
 */
import type { Endpoint } from '../endpoint.js';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import type { Logger } from '../log.js';
import type { ServiceState } from '../registry/store.js';

export type CloseReason = 'draining' | 'shutdown';

/** One open long-lived connection, as the tracker sees it. */
export interface TrackedConnection {
  readonly endpoint: Endpoint;
  /** End the connection cleanly (a WebSocket sends close 1001 first); idempotent. */
  close(reason: CloseReason): void;
}

export interface ConnectionTrackerOptions {
  /** How long connections of a draining or removed instance stay open. */
  drainTimeoutMs: number;
  logger: Logger;
  clock?: Clock;
}

interface InstanceEntry {
  readonly connections: Set<TrackedConnection>;
  drain: TimerHandle | undefined;
}

export class ConnectionTracker {
  readonly #drainTimeoutMs: number;
  readonly #log: Logger;
  readonly #clock: Clock;
  /** service → instance id → its open connections. Entries exist only while connections are open. */
  readonly #services = new Map<string, Map<string, InstanceEntry>>();
  #size = 0;

  constructor(options: ConnectionTrackerOptions) {
    this.#drainTimeoutMs = options.drainTimeoutMs;
    this.#log = options.logger.child({ component: 'connections' });
    this.#clock = options.clock ?? systemClock;
  }

  /** Open connections in total. */
  get size(): number {
    return this.#size;
  }

  /** Open connections to one instance (`service`, `id`). */
  countFor(service: string, id: string): number {
    return this.#services.get(service)?.get(id)?.connections.size ?? 0;
  }

  /**
   * Registers an open connection; the returned function unregisters it (idempotent).
   * `countInflight: false` for exchanges the attempt loop already counts (HTTP/2 streams).
   */
  add(connection: TrackedConnection, { countInflight = true }: { countInflight?: boolean } = {}): () => void {
    const { service, id } = connection.endpoint.instance;
    let instances = this.#services.get(service);
    if (instances === undefined) {
      instances = new Map();
      this.#services.set(service, instances);
    }
    let entry = instances.get(id);
    if (entry === undefined) {
      entry = { connections: new Set(), drain: undefined };
      instances.set(id, entry);
    }
    entry.connections.add(connection);
    if (countInflight) connection.endpoint.stats.inflight++;
    this.#size++;
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      this.#remove(service, id, connection, countInflight);
    };
  }

  /**
   * The mirror's change hook (`mirror.onChange`). Costs nothing for services
   * without open connections; otherwise O(instances of this service).
   */
  onServiceChange(service: string, state: ServiceState | undefined): void {
    const instances = this.#services.get(service);
    if (instances === undefined) return;
    const statusById = new Map<string, string>();
    for (const record of state?.instances ?? []) statusById.set(record.id, record.status);
    for (const [id, entry] of instances) {
      const status = statusById.get(id);
      const leaving = status === undefined || status === 'DRAINING';
      if (leaving && entry.drain === undefined) {
        this.#log.info(
          { service, id, connections: entry.connections.size, drainTimeoutMs: this.#drainTimeoutMs, status: status ?? 'deregistered' },
          'draining open connections',
        );
        entry.drain = this.#clock.setTimer(() => this.#closeInstance(service, id), this.#drainTimeoutMs);
      } else if (!leaving && entry.drain !== undefined) {
        entry.drain.cancel();
        entry.drain = undefined;
        this.#log.info({ service, id, connections: entry.connections.size }, 'drain cancelled: instance is back');
      }
    }
  }

  #closeInstance(service: string, id: string): void {
    const entry = this.#services.get(service)?.get(id);
    if (entry === undefined) return;
    entry.drain = undefined;
    this.#log.info({ service, id, connections: entry.connections.size }, 'drain time over: closing connections');
    for (const connection of [...entry.connections]) connection.close('draining');
  }

  #remove(service: string, id: string, connection: TrackedConnection, countInflight: boolean): void {
    const instances = this.#services.get(service);
    const entry = instances?.get(id);
    if (entry === undefined || !entry.connections.delete(connection)) return;
    if (countInflight) connection.endpoint.stats.inflight--;
    this.#size--;
    if (entry.connections.size === 0) {
      entry.drain?.cancel();
      instances!.delete(id);
      if (instances!.size === 0) this.#services.delete(service);
    }
  }
}
