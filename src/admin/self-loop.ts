/**
 * No self-loop: an instance may not be registered at one of this proxy's own
 * listeners (it would forward to itself until sockets run out, or expose the
 * admin API through the data path). A listener bound to a wildcard (0.0.0.0,
 * ::) is reachable at every local address; one bound to loopback at every
 * loopback address and the unspecified address (connecting to 0.0.0.0 reaches
 * the local host). Addresses are compared canonical (src/net/address.ts), so no
 * spelling of an address (`127.1`, `::ffff:7f00:1`) slips past; a name is
 * checked by what it resolves to. What this cannot see (a name that resolves
 * differently later, a writer that skips the admin API) the proxy's Via loop
 * marker catches (src/proxy/loop-guard.ts).
 */
import os from 'node:os';
import { ErrorCodes, WaypostError } from '../errors.js';
import { canonicalIp, literalAddresses } from '../net/address.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/** The proxy's own listeners, asked at each check (ports are known only once bound). */
export type OwnListeners = () => readonly ListenAddress[];

export class SelfLoopGuard {
  readonly #own: OwnListeners;

  constructor(own: OwnListeners) {
    this.#own = own;
  }

  /**
   * Throws 403 (field `port`) when host:port reaches one of this proxy's listeners.
   * `addresses`: what `host` resolves to (resolveHost); by default only what it
   * says literally (a number, a `localhost` name).
   */
  check(host: string, port: number, addresses: readonly string[] = literalAddresses(host)): void {
    for (const listener of this.#own()) {
      if (listener.port !== port) continue;
      const bound = literalAddresses(listener.host);
      if (bound.some((b) => addresses.some((target) => reaches(b, target)))) {
        throw new WaypostError(
          ErrorCodes.FORBIDDEN,
          `${host}:${port} is this proxy's own listener; registering it would make the proxy forward to itself`,
          { field: 'port' },
        );
      }
    }
  }
}

function isUnspecified(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.');
}

function isLocalInterface(address: string): boolean {
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const local of addresses ?? []) if (canonicalIp(local.address) === address) return true;
  }
  return false;
}

/** Whether a connection to `target` arrives at a listener bound to `bound` (both canonical). */
function reaches(bound: string, target: string): boolean {
  if (target === bound) return true;
  if (isUnspecified(bound)) return isUnspecified(target) || isLoopback(target) || isLocalInterface(target);
  if (isLoopback(bound)) return isUnspecified(target) || isLoopback(target);
  return isUnspecified(target);
}
