/**
 * Where an instance may be registered: inside `admin.allowedCidrs` and not at one of this
 * proxy's own listeners. Every registration path (the native API, Eureka, Consul) asks
 * this one check, so none of them can route traffic outside the allowed networks or back
 * into the proxy.
 */
import { HostAllowList } from './auth.js';
import { SelfLoopGuard, type OwnListeners } from './self-loop.js';

export class RegistrationTargets {
  readonly #hosts: HostAllowList;
  readonly #selfLoop: SelfLoopGuard | undefined;

  constructor(allowedCidrs: readonly string[], ownListeners?: OwnListeners) {
    this.#hosts = new HostAllowList(allowedCidrs);
    this.#selfLoop = ownListeners === undefined ? undefined : new SelfLoopGuard(ownListeners);
  }

  /** Throws 403 naming the field (`host` outside the CIDRs, `port` for a self-loop). */
  check(host: string, port: number): void {
    this.#hosts.check(host);
    this.#selfLoop?.check(host, port);
  }
}
