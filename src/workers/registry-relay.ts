/**
 * The primary's side of one worker's IpcRegistryStore (ipc-store.ts): answers its `state`
 * requests and relays the store's change feed for each of its subscriptions. One relay per
 * worker; `close()` when that worker exits ends its subscriptions.
 *
 * `state` comes from the primary's mirror, not a fresh full load from the store per worker:
 * the worker follows the feed from that revision, so it ends up exactly as current.
 */
import type { RegistryMirror } from '../mirror/mirror.js';
import type { FeedSubscription, RegistryState, RegistryStore } from '../registry/store.js';
import type { PrimaryMessage, WorkerMessage } from './ipc.js';

export interface RegistryRelayOptions {
  /** The primary's store: every subscription of the worker becomes one subscription here. */
  store: RegistryStore;
  /** The primary's mirror of that store: the full dumps come from it. */
  mirror: RegistryMirror;
  /** To the worker (dropped when it is gone). */
  send: (message: PrimaryMessage) => void;
}

/**
 * The registry as a mirror holds it, in the shape and order of RegistryStore.state(), but
 * with the services whose last instance left (the worker's getService still knows their
 * revision; its state() leaves them out, as the stores do).
 */
export function mirrorState(mirror: RegistryMirror): RegistryState {
  // The stores list services by name; the mirror's map keeps arrival order.
  const services = [...mirror.services()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const routes = [...mirror.routes().values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { revision: mirror.revision, services, routes };
}

export class RegistryRelay {
  readonly #options: RegistryRelayOptions;
  readonly #subscriptions = new Map<number, FeedSubscription>();

  constructor(options: RegistryRelayOptions) {
    this.#options = options;
  }

  /** Handles the registry messages of the worker; false for any other message. */
  handle(message: WorkerMessage): boolean {
    const { store, mirror, send } = this.#options;
    switch (message.wp) {
      case 'request':
        if (message.op !== 'state') return false;
        send({ wp: 'reply', id: message.id, ok: true, value: mirrorState(mirror) });
        return true;
      case 'subscribe': {
        const { sub } = message;
        this.#subscriptions.get(sub)?.close();
        this.#subscriptions.set(
          sub,
          store.subscribe(message.from, {
            onEvents: (events) => send({ wp: 'events', sub, events }),
            onReset: (reason) => send({ wp: 'reset', sub, reason }),
            onConnectionChange: (connected) => send({ wp: 'connection', sub, connected }),
          }),
        );
        return true;
      }
      case 'resume':
        this.#subscriptions.get(message.sub)?.resume(message.revision);
        return true;
      case 'unsubscribe':
        this.#subscriptions.get(message.sub)?.close();
        this.#subscriptions.delete(message.sub);
        return true;
      default:
        return false;
    }
  }

  /** The worker is gone: stop following the store for it. */
  close(): void {
    for (const subscription of this.#subscriptions.values()) subscription.close();
    this.#subscriptions.clear();
  }
}
