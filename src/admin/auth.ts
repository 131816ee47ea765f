/**
 * The admin API's two guards: a bearer token on every mutating call, and a CIDR
 * allow-list for the hosts an instance may register (so a leaked token cannot
 * point traffic at arbitrary hosts). Both are built once from the config.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import { ErrorCodes, WaypostError } from '../errors.js';
import { parseCidr } from '../net/address.js';

export class TokenGuard {
  readonly #digest: Buffer | undefined;

  /** `""` disables the check. */
  constructor(token: string) {
    this.#digest = token === '' ? undefined : sha256(token);
  }

  get enabled(): boolean {
    return this.#digest !== undefined;
  }

  /** Throws 401 unless the headers carry `Authorization: Bearer <token>`. */
  check(headers: IncomingHttpHeaders): void {
    if (!this.#digest) return;
    const header = headers.authorization;
    const match = header === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (!match) {
      throw new WaypostError(ErrorCodes.UNAUTHORIZED, 'this call needs an Authorization: Bearer <token> header (admin.token is set)');
    }
    // Comparing fixed-length digests keeps the time independent of where, and whether, lengths differ.
    if (!timingSafeEqual(sha256(match[1]!), this.#digest)) {
      throw new WaypostError(ErrorCodes.UNAUTHORIZED, 'the bearer token does not match admin.token');
    }
  }
}

export class HostAllowList {
  readonly #list: net.BlockList | undefined;

  /** Ranges as validated by the config schema; `[]` allows every host. */
  constructor(cidrs: readonly string[]) {
    if (cidrs.length === 0) return;
    const list = new net.BlockList();
    for (const text of cidrs) {
      const cidr = parseCidr(text);
      if (!cidr) throw new WaypostError(ErrorCodes.CONFIG, `admin.allowedCidrs: not a CIDR range: ${JSON.stringify(text)}`, { field: 'admin.allowedCidrs' });
      list.addSubnet(cidr.address, cidr.prefix, cidr.family);
    }
    this.#list = list;
  }

  get enabled(): boolean {
    return this.#list !== undefined;
  }

  /**
   * Throws 403 (field `host`) unless every address `host` reaches is inside the
   * ranges. `addresses`: resolveHost's canonical answer (so `127.1` is checked as
   * 127.0.0.1, and a name by all its addresses); empty when the name did not
   * resolve, which is refused, with `unresolved` saying why.
   */
  check(host: string, addresses: readonly string[], unresolved = 'no address'): void {
    const list = this.#list;
    if (!list) return;
    if (addresses.length === 0) {
      throw forbidden(`host ${JSON.stringify(host)} does not resolve (${unresolved}); a name is checked against admin.allowedCidrs by its addresses`);
    }
    const outside = addresses.filter((address) => !list.check(address, net.isIPv4(address) ? 'ipv4' : 'ipv6'));
    if (outside.length === 0) return;
    if (outside.length === 1 && outside[0] === host) throw forbidden(`host ${JSON.stringify(host)} is outside admin.allowedCidrs`);
    throw forbidden(`host ${JSON.stringify(host)} resolves to ${outside.join(', ')}, outside admin.allowedCidrs`);
  }
}

function forbidden(message: string): WaypostError {
  return new WaypostError(ErrorCodes.FORBIDDEN, message, { field: 'host' });
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
