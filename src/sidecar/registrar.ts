/**
 * The logic of `waypost registrar`: third-party registration from a Docker-API
 * event stream (Docker or Podman), in the manner of Registrator, without its
 * ghosts. Each registration it makes carries metadata `registrar: <id>` and
 * `container: <container id>`; it renews only those, removes them when their
 * container stops, and never touches a registration without its mark.
 *
 * On start and after every reconnect of the event stream it reconciles: it
 * registers every running labelled container and removes its own registrations
 * whose container is gone (missed events, a registrar that was down). Events and
 * reconciles run one at a time, in arrival order, so they never race.
 */
import { EventEmitter } from 'node:events';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { backoffDelay, sleep, type BackoffOptions } from '../client/backoff.js';
import { Registration } from '../client/registration.js';
import type { RegistrationTarget } from '../client/target.js';
import type { InstanceRecord } from '../types.js';
import { LABELS, OWNER_KEYS, registrationFor } from './container-registration.js';
import type { DockerApi, DockerEvent } from './docker-api.js';

export interface RegistrarOptions {
  readonly docker: DockerApi;
  readonly target: RegistrationTarget;
  /** Marks the registrations this registrar owns; keep it stable across restarts (default: host name). */
  readonly registrarId: string;
  readonly logger: Logger;
  /** Lease of the registrations it makes, in seconds. @default 30 */
  readonly ttl?: number;
  /** Address for host-networked containers and published ports. @default 127.0.0.1 */
  readonly advertiseHost?: string;
  /** Reconnect and registry retry timing. @default { initialMs: 250, maxMs: 5000 } */
  readonly backoff?: BackoffOptions;
}

export interface ReconcileResult {
  /** Running labelled containers now registered. */
  readonly registered: number;
  /** Own registrations removed because their container is gone. */
  readonly removedGhosts: number;
}

export interface RegistrarEvents {
  /** A container's instance was stored in the registry (also after re-registration). */
  registered: [containerId: string, record: InstanceRecord];
  /** A container's instance was removed (it stopped, died or was destroyed). */
  deregistered: [containerId: string];
  reconciled: [result: ReconcileResult];
}

/** Actions that mean a container may now serve. */
const UP_ACTIONS = new Set(['start', 'restart', 'unpause']);
/** Actions that mean it no longer serves (Podman spells some differently: `died`, `remove`). */
const DOWN_ACTIONS = new Set(['die', 'died', 'stop', 'pause', 'destroy', 'remove', 'cleanup', 'oom']);

export class Registrar extends EventEmitter<RegistrarEvents> {
  readonly #options: RegistrarOptions;
  readonly #log: Logger;
  readonly #stop = new AbortController();
  /** Container id → its live registration. */
  readonly #owned = new Map<string, Registration>();
  /** Everything that changes #owned runs through this chain, one step at a time. */
  #queue: Promise<void> = Promise.resolve();
  #loop: Promise<void> | undefined;

  constructor(options: RegistrarOptions) {
    super();
    this.#options = options;
    this.#log = options.logger.child({ component: 'registrar', registrar: options.registrarId });
  }

  /** Containers currently registered by this registrar. */
  get ownedContainers(): string[] {
    return [...this.#owned.keys()];
  }

  /** Starts following the engine; returns at once (connection retries happen in the background). */
  start(): void {
    this.#loop ??= this.#follow();
  }

  /**
   * Stops following and renewing. Registrations stay in the registry: the
   * containers still run, and a restarted registrar adopts them on its
   * reconcile (if it does not come back, their leases expire).
   */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    await this.#queue;
    await Promise.all([...this.#owned.values()].map((registration) => registration.close()));
    this.#owned.clear();
  }

  /** Registers what runs and removes own ghosts; runs in the queue. */
  reconcile(): Promise<ReconcileResult> {
    return this.#enqueue(() => this.#reconcile());
  }

  async #follow(): Promise<void> {
    const signal = this.#stop.signal;
    let failures = 0;
    while (!signal.aborted) {
      try {
        await this.#options.docker.followEvents(
          {
            onConnected: () => {
              failures = 0;
              this.#log.info('event stream connected');
              // Subscribed first, then reconciled: nothing that happens in between is lost.
              void this.#reconcileUntilDone();
            },
            onEvent: (event) => this.#onEvent(event),
          },
          signal,
        );
        if (!signal.aborted) this.#log.warn('event stream ended; reconnecting');
      } catch (err) {
        this.#log.warn({ err: describeError(err) }, 'container engine unreachable; retrying');
      }
      await sleep(backoffDelay(failures++, this.#options.backoff), signal);
    }
  }

  /** A reconcile that failed (registry or engine away) is retried with backoff until one succeeds. */
  async #reconcileUntilDone(): Promise<void> {
    for (let attempt = 0; !this.#stop.signal.aborted; attempt++) {
      try {
        await this.reconcile();
        return;
      } catch (err) {
        this.#log.warn({ err: describeError(err) }, 'reconcile failed; retrying');
        await sleep(backoffDelay(attempt, this.#options.backoff), this.#stop.signal);
      }
    }
  }

  #onEvent(event: DockerEvent): void {
    if ((event.Type ?? 'container') !== 'container') return;
    const action = (event.Action ?? event.status ?? '').split(':', 1)[0]!;
    const id = event.Actor?.ID ?? event.id;
    if (!id) return;
    if (UP_ACTIONS.has(action)) {
      if (event.Actor?.Attributes && !(LABELS.service in event.Actor.Attributes)) return;
      void this.#enqueue(() => this.#registerContainer(id)).catch(() => {});
    } else if (DOWN_ACTIONS.has(action)) {
      void this.#enqueue(() => this.#removeContainer(id, action)).catch(() => {});
    }
  }

  async #reconcile(): Promise<ReconcileResult> {
    const { docker, target, registrarId } = this.#options;
    const running = await docker.listContainers({ label: [LABELS.service], status: ['running'] });
    const runningIds = new Set(running.map((container) => container.Id));
    let registered = 0;
    for (const container of running) {
      if (await this.#registerContainer(container.Id)) registered += 1;
    }
    for (const id of [...this.#owned.keys()]) {
      if (!runningIds.has(id)) await this.#removeContainer(id, 'gone');
    }
    // Ghosts: own registrations in the registry whose container no longer runs.
    let removedGhosts = 0;
    for (const name of await target.listServiceNames()) {
      const service = await target.getService(name);
      for (const instance of service.instances) {
        const owner = instance.metadata[OWNER_KEYS.registrar];
        const container = instance.metadata[OWNER_KEYS.container];
        if (owner !== registrarId || (container !== undefined && runningIds.has(container))) continue;
        if (await target.deregister(instance.service, instance.id)) {
          removedGhosts += 1;
          this.#log.info({ service: instance.service, id: instance.id, container }, 'removed ghost registration');
        }
      }
    }
    const result = { registered, removedGhosts };
    this.#log.info(result, 'reconciled');
    this.emit('reconciled', result);
    return result;
  }

  /** Registers (or refreshes) one container; false when it does not qualify. */
  async #registerContainer(id: string): Promise<boolean> {
    const container = await this.#options.docker.inspect(id);
    if (!container) {
      await this.#removeContainer(id, 'gone');
      return false;
    }
    const decision = registrationFor(container, {
      registrarId: this.#options.registrarId,
      advertiseHost: this.#options.advertiseHost ?? '127.0.0.1',
      ttl: this.#options.ttl ?? 30,
    });
    if (!decision.ok) {
      if (container.Config?.Labels?.[LABELS.service]) this.#log.warn({ container: id, reason: decision.reason }, 'container not registered');
      await this.#removeContainer(container.Id, 'not eligible');
      return false;
    }
    const current = this.#owned.get(container.Id);
    const same = current?.record && current.record.host === decision.input.host && current.record.port === decision.input.port;
    if (same) return true;
    await current?.close();
    const registration = new Registration(this.#options.target, decision.input, this.#options.backoff ? { backoff: this.#options.backoff } : {});
    registration.on('registered', (record) => {
      this.#log.info({ container: container.Id, service: record.service, id: record.id, host: record.host, port: record.port }, 'registered container');
      this.emit('registered', container.Id, record);
    });
    registration.on('error', (err) => this.#log.warn({ container: container.Id, err: describeError(err) }, 'registry call failed; retrying'));
    this.#owned.set(container.Id, registration);
    return true;
  }

  async #removeContainer(id: string, reason: string): Promise<void> {
    const fullId = this.#owned.has(id) ? id : [...this.#owned.keys()].find((owned) => owned.startsWith(id));
    if (fullId === undefined) return;
    const registration = this.#owned.get(fullId)!;
    this.#owned.delete(fullId);
    try {
      await registration.deregister();
    } catch (err) {
      // Left for the lease to expire, or for the next reconcile to remove as a ghost.
      this.#log.warn({ container: fullId, err: describeError(err) }, 'could not deregister container');
    }
    this.#log.info({ container: fullId, reason }, 'deregistered container');
    this.emit('deregistered', fullId);
  }

  #enqueue<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(step);
    this.#queue = run.then(
      () => undefined,
      (err: unknown) => this.#log.warn({ err: describeError(err) }, 'registrar step failed'),
    );
    return run;
  }
}
