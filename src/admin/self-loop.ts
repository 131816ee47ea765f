/**
 * No self-loop: an instance may not be registered at one of this proxy's own
 * listeners (it would forward to itself until sockets run out, or expose the
 * admin API through the data path). A listener bound to a wildcard (0.0.0.0,
 * ::) is reachable at every local address; one bound to loopback at every
 * loopback address and the unspecified address (connecting to 0.0.0.0 reaches
 * the local host).
 */
import net from 'node:net';
import os from 'node:os';
import { ErrorCodes, WaypostError } from '../errors.js';

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

  /** Throws 403 (field `port`) when host:port is one of this proxy's listeners. */
  check(host: string, port: number): void {
    const target = normalise(host);
    for (const listener of this.#own()) {
      if (listener.port !== port) continue;
      if (reaches(normalise(listener.host), target)) {
        throw new WaypostError(
          ErrorCodes.FORBIDDEN,
          `${host}:${port} is this proxy's own listener; registering it would make the proxy forward to itself`,
          { field: 'port' },
        );
      }
    }
  }
}

/** Lower case, brackets and IPv4-mapped prefix removed. */
function normalise(host: string): string {
  const bare = (host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host).toLowerCase();
  return bare.startsWith('::ffff:') && net.isIPv4(bare.slice(7)) ? bare.slice(7) : bare;
}

function isUnspecified(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '0:0:0:0:0:0:0:0';
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || (net.isIPv4(host) && host.startsWith('127.'));
}

function isLocalInterface(host: string): boolean {
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const address of addresses ?? []) if (normalise(address.address) === host) return true;
  }
  return false;
}

/** Whether a connection to `target` arrives at a listener bound to `bound`. */
function reaches(bound: string, target: string): boolean {
  if (target === bound) return true;
  if (isUnspecified(bound)) return isUnspecified(target) || isLoopback(target) || isLocalInterface(target);
  if (isLoopback(bound)) return isUnspecified(target) || isLoopback(target);
  return isUnspecified(target);
}
