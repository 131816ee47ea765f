/**
 * The RegistryStore a cluster worker gives its RegistryMirror: read-only, backed by the
 * primary over IPC. `state()` asks the primary for a full dump; `subscribe()` asks it to
 * relay its store's change feed (events, resets, connection changes) for this worker.
 * Writes reject: registrations go to the primary's admin API, the one source of truth.
 * This is what lets the embedded memory store work with workers, and keeps workers off Redis.
 */
import { WaypostError } from '../errors.js';
import type { InstanceRecord } from '../types.js';
import type {
  FeedHandlers,
  FeedSubscription,
  PutRouteResult,
  RegisterResult,
  RegistryState,
  RegistryStore,
  ServiceCount,
  ServiceState,
  StoredRoute,
  SweepResult,
} from '../registry/store.js';
import { isWaypostMessage, PendingRequests, type PrimaryMessage, type WorkerMessage } from './ipc.js';

/** A worker's IPC channel to the primary (process.send / process.on('message') in a worker). */
export interface PrimaryChannel {
  send(message: WorkerMessage): void;
  onMessage(listener: (message: unknown) => void): () => void;
}

export const processChannel: PrimaryChannel = {
  send(message) {
    process.send?.(message);
  },
  onMessage(listener) {
    process.on('message', listener);
    return () => process.off('message', listener);
  },
};

/** A full dump can be large (100 k instances); the primary may also be loading from Redis. */
const STATE_TIMEOUT_MS = 30_000;

export class IpcRegistryStore implements RegistryStore {
  readonly kind: 'memory' | 'redis';
  #connected = true;
  readonly #channel: PrimaryChannel;
  readonly #pending = new PendingRequests();
  readonly #subscriptions = new Map<number, FeedHandlers>();
  #nextSubscription = 1;
  #detach: (() => void) | undefined;

  constructor(kind: 'memory' | 'redis', channel: PrimaryChannel = processChannel) {
    this.kind = kind;
    this.#channel = channel;
  }

  get connected(): boolean {
    return this.#connected;
  }

  async start(): Promise<void> {
    this.#attach();
  }

  /** Synchronous, so that a request made right after is already listening (and close() can fail it). */
  #attach(): void {
    this.#detach ??= this.#channel.onMessage((message) => this.#onMessage(message));
  }

  async close(): Promise<void> {
    for (const sub of this.#subscriptions.keys()) this.#channel.send({ wp: 'unsubscribe', sub });
    this.#subscriptions.clear();
    this.#pending.failAll('registry store closed');
    this.#detach?.();
    this.#detach = undefined;
  }

  async state(): Promise<RegistryState> {
    const dump = await this.#dump();
    return { revision: dump.revision, services: dump.services.filter((service) => service.instances.length > 0), routes: dump.routes };
  }

  /** The primary's mirror, with the services whose last instance left (see registry-relay.ts). */
  #dump(): Promise<RegistryState> {
    this.#attach();
    return this.#pending.request(
      (id) => this.#channel.send({ wp: 'request', id, op: 'state' }),
      STATE_TIMEOUT_MS,
      'registry state',
    ) as Promise<RegistryState>;
  }

  subscribe(fromRevision: number, handlers: FeedHandlers): FeedSubscription {
    this.#attach();
    const sub = this.#nextSubscription++;
    this.#subscriptions.set(sub, handlers);
    this.#channel.send({ wp: 'subscribe', sub, from: fromRevision });
    return {
      resume: (revision) => this.#channel.send({ wp: 'resume', sub, revision }),
      close: () => {
        if (this.#subscriptions.delete(sub)) this.#channel.send({ wp: 'unsubscribe', sub });
      },
    };
  }

  register(): Promise<RegisterResult> {
    return readOnly();
  }

  renew(): Promise<InstanceRecord | undefined> {
    return readOnly();
  }

  setStatus(): Promise<InstanceRecord | undefined> {
    return readOnly();
  }

  deregister(): Promise<boolean> {
    return readOnly();
  }

  putRoute(): Promise<PutRouteResult> {
    return readOnly();
  }

  deleteRoute(): Promise<boolean> {
    return readOnly();
  }

  async getRoute(id: string): Promise<StoredRoute | undefined> {
    return (await this.#dump()).routes.find((route) => route.id === id);
  }

  async listRoutes(): Promise<StoredRoute[]> {
    return [...(await this.#dump()).routes];
  }

  async listServices(): Promise<ServiceCount[]> {
    const state = await this.state();
    return state.services.map((service) => ({ name: service.name, instances: service.instances.length }));
  }

  async getService(service: string): Promise<ServiceState> {
    const state = await this.#dump();
    return state.services.find((s) => s.name === service) ?? { name: service, revision: 0, instances: [] };
  }

  /** The primary's store sweeps; a worker never expires leases. */
  async sweep(): Promise<SweepResult> {
    return { expired: 0, held: [] };
  }

  #onMessage(message: unknown): void {
    if (!isWaypostMessage(message)) return;
    const m = message as PrimaryMessage;
    switch (m.wp) {
      case 'reply':
        this.#pending.settle(m);
        return;
      case 'events':
        this.#subscriptions.get(m.sub)?.onEvents(m.events);
        return;
      case 'reset':
        this.#subscriptions.get(m.sub)?.onReset(m.reason);
        return;
      case 'connection':
        this.#connected = m.connected;
        this.#subscriptions.get(m.sub)?.onConnectionChange?.(m.connected);
        return;
      default:
        return;
    }
  }
}

function readOnly(): Promise<never> {
  return Promise.reject(
    new WaypostError('forbidden', 'cluster workers read the registry only; write through the admin API of the primary'),
  );
}
