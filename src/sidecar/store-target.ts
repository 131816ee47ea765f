/**
 * A RegistryStore used directly as a registration target (`--redis`): the
 * sidecar or registrar writes to Redis without an admin API in between. The
 * store is started lazily and started again after a failed start, so a Redis
 * that is down when the sidecar starts is retried like any other outage. With no
 * admin API in between, it applies the API's host checks itself: the host stored
 * canonical and inside `admin.allowedCidrs` (from WAYPOST_ADMIN_ALLOWED_CIDRS or the
 * config). It knows no proxy's listeners, so a self-loop is left to the proxies'
 * loop marker (src/proxy/loop-guard.ts).
 */
import { ErrorCodes, WaypostError, describeError, isWaypostError } from '../errors.js';
import { RegistrationTargets } from '../admin/targets.js';
import { canonicalHost } from '../net/address.js';
import type { RegistryStore } from '../registry/store.js';
import type { InstanceRecord, InstanceStatus, RegistrationInput } from '../types.js';
import type { RegistrationTarget, TargetService } from '../client/target.js';

export class StoreTarget implements RegistrationTarget {
  readonly #store: RegistryStore;
  readonly #targets: RegistrationTargets;
  #starting: Promise<void> | undefined;

  /** `allowedCidrs`: as `admin.allowedCidrs`; [] allows any host. */
  constructor(store: RegistryStore, allowedCidrs: readonly string[] = []) {
    this.#store = store;
    this.#targets = new RegistrationTargets(allowedCidrs);
  }

  async registerInstance(input: RegistrationInput): Promise<InstanceRecord> {
    const host = canonicalHost(input.host);
    await this.#targets.check(host, input.port);
    return (await this.#call(() => this.#store.register(withoutUndefined({ ...input, host })))).record;
  }

  renew(service: string, id: string): Promise<InstanceRecord | undefined> {
    return this.#call(() => this.#store.renew(service, id));
  }

  setStatus(service: string, id: string, status: InstanceStatus): Promise<InstanceRecord | undefined> {
    return this.#call(() => this.#store.setStatus(service, id, status));
  }

  deregister(service: string, id: string): Promise<boolean> {
    return this.#call(() => this.#store.deregister(service, id));
  }

  async listServiceNames(): Promise<string[]> {
    return (await this.#call(() => this.#store.listServices())).filter((s) => s.instances > 0).map((s) => s.name);
  }

  getService(service: string): Promise<TargetService> {
    return this.#call(() => this.#store.getService(service));
  }

  close(): Promise<void> {
    return this.#store.close();
  }

  async #call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      this.#starting ??= this.#store.start();
      await this.#starting;
    } catch (err) {
      this.#starting = undefined;
      throw unavailable(err);
    }
    try {
      return await operation();
    } catch (err) {
      throw isWaypostError(err) ? err : unavailable(err);
    }
  }
}

function unavailable(err: unknown): WaypostError {
  if (isWaypostError(err, ErrorCodes.REGISTRY_UNAVAILABLE)) return err;
  return new WaypostError(ErrorCodes.REGISTRY_UNAVAILABLE, `registry store is unreachable: ${describeError(err)}`, { cause: err });
}

function withoutUndefined(input: RegistrationInput): RegistrationInput {
  return Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined)) as unknown as RegistrationInput;
}
