/**
 * CIDR lists compiled to sorted, merged numeric ranges (IPv4 as numbers, IPv6 as
 * bigints), searched by bisection: no per-request parsing of the list, and a
 * dotted IPv4 client (the common case) is read without allocating.
 *
 * Client addresses are matched in every spelling they can arrive in:
 * `10.0.0.1`, `::ffff:10.0.0.1` and `::ffff:a00:1` (IPv4-mapped; matches IPv4
 * ranges), `0:0:0:0:0:ffff:a00:1`, upper- or lower-case hex, `[::1]`, a zone id
 * (`fe80::1%eth0`), and with a port as some X-Forwarded-For writers add one
 * (`10.0.0.1:5000`, `[2001:db8::1]:443`). IPv4 shorthand getaddrinfo accepts
 * (`127.1`) is read as it connects (src/net/address.ts canonicalIp). IPv6
 * ranges that cover IPv4-mapped addresses (::ffff:0:0/96 or part of it) also
 * match the IPv4 addresses they map.
 */
import { canonicalIp, parseCidr } from '../net/address.js';

const MAPPED_LOW = 0xffffn << 32n;
const MAPPED_HIGH = MAPPED_LOW | 0xffffffffn;

/** A parsed client address; undefined when it is not an IP address. */
export type ClientAddress = { v4: number; v6?: undefined } | { v4?: undefined; v6: bigint };

export class CidrRanges {
  readonly #v4: number[];
  readonly #v6: bigint[];

  /** `cidrs` as validated by the config schema (throws on one that is not). */
  constructor(cidrs: readonly string[]) {
    const v4: [number, number][] = [];
    const v6: [bigint, bigint][] = [];
    for (const text of cidrs) {
      const cidr = parseCidr(text);
      if (cidr === undefined) throw new Error(`not a CIDR range: ${JSON.stringify(text)}`);
      if (cidr.family === 'ipv4') {
        const size = 2 ** (32 - cidr.prefix);
        const low = Math.floor(parseIpv4(cidr.address) / size) * size;
        v4.push([low, low + size - 1]);
        continue;
      }
      const hostBits = BigInt(128 - cidr.prefix);
      const low = (parseIpv6(cidr.address)! >> hostBits) << hostBits;
      const high = low | ((1n << hostBits) - 1n);
      v6.push([low, high]);
      // The IPv4-mapped part of an IPv6 range matches IPv4 clients too.
      if (low <= MAPPED_HIGH && high >= MAPPED_LOW) {
        v4.push([Number((low > MAPPED_LOW ? low : MAPPED_LOW) - MAPPED_LOW), Number((high < MAPPED_HIGH ? high : MAPPED_HIGH) - MAPPED_LOW)]);
      }
    }
    this.#v4 = merged(v4);
    this.#v6 = merged(v6);
  }

  get empty(): boolean {
    return this.#v4.length === 0 && this.#v6.length === 0;
  }

  has(address: ClientAddress): boolean {
    return address.v4 !== undefined ? contains(this.#v4, address.v4) : contains(this.#v6, address.v6);
  }
}

/** The client address in any spelling (see the file comment); undefined for anything else. */
export function parseClientAddress(text: string): ClientAddress | undefined {
  const fast = dottedIpv4(text);
  if (fast !== -1) return { v4: fast };
  const canonical = canonicalIp(withoutPort(text));
  if (canonical === undefined) return undefined;
  if (!canonical.includes(':')) return { v4: parseIpv4(canonical) };
  const v6 = parseIpv6(canonical);
  return v6 === undefined ? undefined : { v6 };
}

/** `a.b.c.d` of four decimal bytes read without allocating, else -1 (other spellings go the long way). */
function dottedIpv4(text: string): number {
  let value = 0;
  let part = -1;
  let parts = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (part === -1 || ++parts > 3) return -1;
      value = value * 256 + part;
      part = -1;
    } else if (c >= 48 && c <= 57) {
      // A leading zero is octal to getaddrinfo: left to canonicalIp.
      if (part === 0) return -1;
      part = part === -1 ? c - 48 : part * 10 + (c - 48);
      if (part > 255) return -1;
    } else {
      return -1;
    }
  }
  return parts === 3 && part !== -1 ? value * 256 + part : -1;
}

/** `10.0.0.1:5000` → `10.0.0.1`, `[::1]:443` → `[::1]`; anything else unchanged. */
function withoutPort(text: string): string {
  const bracket = /^(\[[^\]]+\]):\d{1,5}$/.exec(text);
  if (bracket) return bracket[1]!;
  const v4 = /^([^:]+):\d{1,5}$/.exec(text);
  return v4 ? v4[1]! : text;
}

function parseIpv4(dotted: string): number {
  return dotted.split('.').reduce((value, part) => value * 256 + Number(part), 0);
}

/** An IPv6 address (no brackets, no zone) as a 128-bit number; a dotted IPv4 tail is allowed. */
function parseIpv6(text: string): bigint | undefined {
  let groups = text;
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(groups);
  if (tail) {
    const v4 = parseIpv4(tail[1]!);
    groups = `${groups.slice(0, -tail[1]!.length)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [head = '', rest] = groups.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  const missing = 8 - left.length - right.length;
  if (rest === undefined ? missing !== 0 : missing < 1) return undefined;
  let value = 0n;
  for (const group of [...left, ...Array<string>(rest === undefined ? 0 : missing).fill('0'), ...right]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
    value = (value << 16n) | BigInt(parseInt(group, 16));
  }
  return value;
}

/** Sorted, overlapping ranges joined, flattened to [low0, high0, low1, high1, …] (disjoint, ascending). */
function merged<T extends number | bigint>(ranges: [T, T][]): T[] {
  ranges.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: T[] = [];
  for (const [low, high] of ranges) {
    const last = out.length - 1;
    if (last >= 0 && low <= out[last]!) {
      if (high > out[last]!) out[last] = high;
    } else {
      out.push(low, high);
    }
  }
  return out;
}

/** Bisection over flattened [low, high] pairs. */
function contains<T extends number | bigint>(ranges: readonly T[], value: T): boolean {
  let lo = 0;
  let hi = ranges.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (value < ranges[mid * 2]!) hi = mid - 1;
    else if (value > ranges[mid * 2 + 1]!) lo = mid + 1;
    else return true;
  }
  return false;
}
