/**
 * Where an instance may be registered: inside `admin.allowedCidrs` and not at one of this
 * proxy's own listeners. Every registration path (the native API, Eureka, Consul, and the
 * sidecar and registrar writing to Redis directly) asks this one check, so none of them
 * can route traffic outside the allowed networks or back into the proxy. Both checks see
 * the canonical addresses the host reaches (src/net/address.ts): every spelling of an
 * address, and every address a name resolves to.
 */
import { describeError } from '../errors.js';
import { resolveHost, RESOLVE_TIMEOUT_MS } from '../net/address.js';
import { HostAllowList } from './auth.js';
import { SelfLoopGuard, type OwnListeners } from './self-loop.js';

export class RegistrationTargets {
  readonly #hosts: HostAllowList;
  readonly #selfLoop: SelfLoopGuard | undefined;
  readonly #resolveTimeoutMs: number;

  constructor(allowedCidrs: readonly string[], ownListeners?: OwnListeners, resolveTimeoutMs = RESOLVE_TIMEOUT_MS) {
    this.#hosts = new HostAllowList(allowedCidrs);
    this.#selfLoop = ownListeners === undefined ? undefined : new SelfLoopGuard(ownListeners);
    this.#resolveTimeoutMs = resolveTimeoutMs;
  }

  /**
   * Rejects with 403 naming the field (`host` outside the CIDRs or not resolvable while
   * CIDRs are set, `port` for a self-loop). A name that does not resolve passes when no
   * CIDRs are set: its DNS entry may come later, and the proxy's loop marker still
   * catches a loop it then makes.
   */
  async check(host: string, port: number): Promise<void> {
    if (!this.#hosts.enabled && this.#selfLoop === undefined) return;
    let addresses: string[] = [];
    let unresolved: string | undefined;
    try {
      addresses = await resolveHost(host, this.#resolveTimeoutMs);
    } catch (err) {
      unresolved = describeError(err);
    }
    this.#hosts.check(host, addresses, unresolved);
    this.#selfLoop?.check(host, port, addresses);
  }
}
