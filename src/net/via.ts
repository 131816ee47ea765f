/**
 * The Via header (RFC 9110 §7.6.3) as the proxy's loop marker: every request a
 * proxy forwards carries `<protocol> <proxy-id>` appended to any Via it came
 * with, so a request that comes back carries the proxy's own id whatever
 * address spelling, DNS name or registry writer sent it there. A leaf module:
 * the data path (src/proxy/loop-guard.ts) and the admin listener both read it.
 */
import { randomBytes } from 'node:crypto';

/**
 * The comment every Waypost proxy puts after its pseudonym (`1.1 <id> (waypost)`): whatever
 * a proxy's id, a request one of them forwarded is recognisable as such.
 */
export const WAYPOST_VIA_COMMENT = '(waypost)';

/** This proxy's Via entry for a request received over `version` (`1.1`, `2`). */
export function viaEntry(version: string, proxyId: string): string {
  return `${version} ${proxyId} ${WAYPOST_VIA_COMMENT}`;
}

/** Whether any Waypost proxy forwarded a request carrying this Via value. */
export function viaFromWaypost(via: string): boolean {
  return via.includes(WAYPOST_VIA_COMMENT);
}

/** A Via pseudonym (RFC 9110 `received-by` token), kept short and log-safe. */
export const PROXY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** A fresh id for a proxy whose `proxyId` is not configured. */
export function generateProxyId(): string {
  return `waypost-${randomBytes(6).toString('hex')}`;
}

const COMMA = 0x2c;
const OPEN = 0x28;
const CLOSE = 0x29;

/** How many hops a Via value lists: its comma-separated entries (a comma inside a `(comment)` does not count). */
export function viaHops(via: string): number {
  let hops = 1;
  let depth = 0;
  for (let i = 0; i < via.length; i++) {
    const c = via.charCodeAt(i);
    if (c === OPEN) depth++;
    else if (c === CLOSE && depth > 0) depth--;
    else if (c === COMMA && depth === 0) hops++;
  }
  return hops;
}

/** Whether a Via value names `proxyId` as the `received-by` of one of its entries (`1.1 <proxyId>`). */
export function viaNames(via: string, proxyId: string): boolean {
  for (let at = via.indexOf(proxyId); at !== -1; at = via.indexOf(proxyId, at + 1)) {
    // received-by follows the protocol and whitespace; it ends the entry or is followed by whitespace (a comment).
    const after = at + proxyId.length === via.length ? ',' : via[at + proxyId.length]!;
    if (at > 0 && isSpace(via[at - 1]!) && (after === ',' || isSpace(after))) return true;
  }
  return false;
}

function isSpace(c: string): boolean {
  return c === ' ' || c === '\t';
}
