/**
 * The logic of `waypost register`: keeps an app (in any language) registered
 * while it is healthy. It registers the app's address through a
 * RegistrationTarget (admin API or a store), renews the lease (Registration does
 * the heartbeats, re-registration and backoff), checks the local app every
 * interval and reports UP / OUT_OF_SERVICE with consecutive thresholds, and on
 * stop() sets DRAINING, waits the drain delay and deregisters.
 *
 * With `exec`, the sidecar starts the app as a child, registers it only once
 * its check passes, and ends when the child ends (exit code = the child's).
 */
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { BackoffOptions } from '../client/backoff.js';
import { sleep } from '../client/backoff.js';
import { Registration } from '../client/registration.js';
import type { RegistrationTarget } from '../client/target.js';
import type { RegistrationInput } from '../types.js';
import { AppProcess, type AppExit } from './app-process.js';
import { CheckThresholds, checkApp, type AppCheckTarget } from './app-check.js';

export interface SidecarCheckOptions {
  /** HTTP path; without it (and without `grpcService`) the check is a TCP connect to the app's address. */
  readonly path?: string;
  /** gRPC health check (grpc.health.v1) of this service name; "" = the whole server. */
  readonly grpcService?: string;
  /** @default 5000 */
  readonly intervalMs?: number;
  /** One check's time limit. @default min(interval, 2000) */
  readonly timeoutMs?: number;
  /** Passes in a row to report UP again. @default 2 */
  readonly passes?: number;
  /** Failures in a row to report OUT_OF_SERVICE. @default 3 */
  readonly fails?: number;
}

export interface SidecarOptions {
  readonly target: RegistrationTarget;
  /** The app's registration; `host`/`port` are also what the check probes. */
  readonly registration: RegistrationInput;
  readonly check?: SidecarCheckOptions;
  /** Time between DRAINING and deregistering, for proxies to stop sending. @default 5000 */
  readonly drainDelayMs?: number;
  /** Start the app as a child; register once its check passes. */
  readonly exec?: { readonly command: string; readonly args: readonly string[] };
  readonly logger: Logger;
  /** Retry timing while the registry is unreachable. */
  readonly backoff?: BackoffOptions;
}

/** While waiting for an exec'd app to come up, check at least this often. */
const STARTUP_POLL_MS = 250;

export class Sidecar {
  readonly #options: SidecarOptions;
  readonly #log: Logger;
  readonly #check: AppCheckTarget;
  readonly #intervalMs: number;
  readonly #drainDelayMs: number;
  readonly #stopChecks = new AbortController();
  #thresholds: CheckThresholds | undefined;
  #registration: Registration | undefined;
  #app: AppProcess | undefined;
  #checkLoop: Promise<void> | undefined;
  #stopping: Promise<AppExit | undefined> | undefined;
  #resolveDone!: (exit: AppExit | undefined) => void;
  #rejectDone!: (err: unknown) => void;

  /**
   * Resolves when the sidecar is finished: after stop(), or when an exec'd app
   * exits (with its exit). Rejects when the registry refuses the first
   * registration for good (bad input, auth); never for an unreachable registry.
   */
  readonly done: Promise<AppExit | undefined>;

  constructor(options: SidecarOptions) {
    this.#options = options;
    const { registration, check = {} } = options;
    this.#log = options.logger.child({ component: 'sidecar', service: registration.service });
    this.#intervalMs = check.intervalMs ?? 5000;
    this.#drainDelayMs = options.drainDelayMs ?? 5000;
    this.#check = {
      host: registration.host,
      port: registration.port,
      timeoutMs: check.timeoutMs ?? Math.min(this.#intervalMs, 2000),
      ...(check.path === undefined ? {} : { path: check.path }),
      ...(check.grpcService === undefined ? {} : { grpcService: check.grpcService }),
    };
    this.done = new Promise((resolve, reject) => {
      this.#resolveDone = resolve;
      this.#rejectDone = reject;
    });
  }

  /** The live registration once started (undefined before, and while an exec'd app is coming up). */
  get registration(): Registration | undefined {
    return this.#registration;
  }

  /** The app's health as the thresholds see it. */
  get healthy(): boolean {
    return this.#thresholds?.healthy ?? false;
  }

  /**
   * Starts the app (exec mode; waits until its check passes) and the
   * registration. Resolves once registering has begun: it does not wait for the
   * registry, which may be unreachable. Await `done` for the end.
   */
  async start(): Promise<void> {
    const exec = this.#options.exec;
    if (exec) {
      this.#app = new AppProcess(exec.command, exec.args);
      this.#log.info({ command: exec.command, pid: this.#app.pid }, 'app started');
      void this.#app.exited.then((exit) => this.#onAppExit(exit));
      const up = await this.#waitForApp();
      if (!up) return;
    }
    const first = await checkApp(this.#check);
    // The first result decides the initial status; later changes need the thresholds.
    this.#thresholds = new CheckThresholds({
      passes: this.#options.check?.passes ?? 2,
      fails: this.#options.check?.fails ?? 3,
      initiallyHealthy: first.ok,
    });
    if (!first.ok) this.#log.warn({ detail: first.detail }, 'app check failed; registering as OUT_OF_SERVICE');
    const registration = new Registration(
      this.#options.target,
      { ...this.#options.registration, status: first.ok ? 'UP' : 'OUT_OF_SERVICE' },
      this.#options.backoff ? { backoff: this.#options.backoff } : {},
    );
    this.#registration = registration;
    registration.on('registered', (record) => this.#log.info({ id: record.id, status: record.status, ttl: record.ttl }, 'registered'));
    registration.on('lost', (reason) => this.#log.warn({ id: registration.id, reason }, 'registration lost; registering again'));
    registration.on('error', (err) => this.#log.warn({ id: registration.id, err: describeError(err) }, 'registry call failed; retrying'));
    this.#checkLoop = this.#runChecks();
    // A refusal of the very first registration (bad input, auth) is fatal; an unreachable registry is not.
    registration.ready.catch((err: unknown) => {
      if (this.#stopping) return;
      this.#log.error({ err: describeError(err) }, 'registration refused');
      this.#stopChecks.abort();
      this.#app?.signal('SIGTERM');
      this.#stopping = Promise.resolve(undefined);
      this.#rejectDone(err);
    });
  }

  /**
   * Drains and leaves: DRAINING, wait the drain delay, deregister; then (exec
   * mode) SIGTERM the app and wait for it. Resolves with the app's exit in exec
   * mode. Idempotent.
   */
  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<AppExit | undefined> {
    this.#stopping ??= this.#stop(signal);
    return this.#stopping;
  }

  async #stop(signal: NodeJS.Signals): Promise<AppExit | undefined> {
    this.#stopChecks.abort();
    await this.#checkLoop;
    const registration = this.#registration;
    if (registration?.record) {
      try {
        await registration.setStatus('DRAINING');
        this.#log.info({ id: registration.id, drainDelayMs: this.#drainDelayMs }, 'draining');
        await sleep(this.#drainDelayMs);
      } catch (err) {
        // Unreachable registry: nothing routes here through it anyway; the lease will expire.
        this.#log.warn({ err: describeError(err) }, 'could not mark the instance DRAINING');
      }
    }
    if (registration) {
      try {
        const removed = await registration.deregister();
        this.#log.info({ id: registration.id, removed }, 'deregistered');
      } catch (err) {
        this.#log.warn({ err: describeError(err) }, 'could not deregister; the lease will expire');
      }
    }
    let exit: AppExit | undefined;
    if (this.#app) {
      this.#app.signal(signal);
      exit = await this.#app.exited;
    }
    this.#resolveDone(exit);
    return exit;
  }

  /** Polls the exec'd app until its check passes (true) or it exits or the sidecar stops (false). */
  async #waitForApp(): Promise<boolean> {
    const poll = Math.min(this.#intervalMs, STARTUP_POLL_MS);
    while (!this.#stopChecks.signal.aborted && this.#app?.running) {
      const result = await checkApp(this.#check);
      if (result.ok) return true;
      await sleep(poll, this.#stopChecks.signal);
    }
    return false;
  }

  async #runChecks(): Promise<void> {
    const signal = this.#stopChecks.signal;
    for (;;) {
      await sleep(this.#intervalMs, signal);
      if (signal.aborted) return;
      const result = await checkApp(this.#check);
      if (signal.aborted) return;
      const thresholds = this.#thresholds!;
      if (!thresholds.record(result.ok)) continue;
      const status = thresholds.healthy ? 'UP' : 'OUT_OF_SERVICE';
      this.#log.info({ status, detail: result.detail }, 'app health changed');
      // Registration remembers the wanted status and sends it once the registry is back.
      this.#registration?.setStatus(status).catch((err: unknown) => {
        this.#log.warn({ status, err: describeError(err) }, 'status not sent yet; will retry after the next heartbeat');
      });
    }
  }

  #onAppExit(exit: AppExit): void {
    this.#log.info({ code: exit.code, signal: exit.signal }, 'app exited');
    // The app is gone: no point draining towards it.
    if (!this.#stopping) {
      this.#stopping = (async () => {
        this.#stopChecks.abort();
        await this.#checkLoop;
        if (this.#registration) {
          await this.#registration.deregister().catch((err: unknown) => {
            this.#log.warn({ err: describeError(err) }, 'could not deregister; the lease will expire');
          });
        }
        this.#resolveDone(exit);
        return exit;
      })();
    }
  }
}
