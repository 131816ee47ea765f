/**
 * Address helpers every layer uses: `HOST:PORT` listen addresses (`[::1]:8080` for
 * IPv6, `:8080` for all interfaces) and CIDR ranges. A leaf module: it imports
 * nothing of Waypost's.
 */
import dns from 'node:dns/promises';
import net from 'node:net';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Parsed address, or an error sentence. Port 0 is allowed (an ephemeral port, for tests). */
export function parseHostPort(text: string): HostPort | string {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(text.trim());
  if (!match) return `expected HOST:PORT (e.g. 127.0.0.1:8080), got "${text}"`;
  const host = match[1] ?? (match[2] || '0.0.0.0');
  const port = Number(match[3]);
  if (port > 65535) return `port must be 0-65535, got ${port}`;
  if (match[1] !== undefined && net.isIPv6(host) === false) return `invalid IPv6 address "${host}"`;
  if (match[2] && !net.isIP(host) && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(host)) {
    return `invalid host "${host}"`;
  }
  return { host, port };
}

/** `host:port`, IPv6 literals in brackets (the only hosts with a colon). */
export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `10.0.0.0/8`, `::1/128`; a bare address means a single host. */
export function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [address = '', bits] = text.trim().split('/');
  const family = net.isIPv4(address) ? 'ipv4' : net.isIPv6(address) ? 'ipv6' : undefined;
  if (!family) return undefined;
  const max = family === 'ipv4' ? 32 : 128;
  const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return undefined;
  return { address, prefix, family };
}

/**
 * The one spelling of a numeric host, or `undefined` for a name. Every form a
 * connect can reach the same address by collapses to one string, so a CIDR or
 * self-loop check cannot be walked around by spelling: IPv4 in any form
 * `inet_aton` (and so getaddrinfo) accepts — 1 to 4 parts, each decimal, octal
 * (leading 0) or hex (0x): `127.1`, `2130706433`, `0x7f.1`, `0177.0.0.1`, `0` —
 * becomes dotted decimal; IPv6 (brackets and a zone id allowed, expanded or
 * compressed) becomes RFC 5952 text, and an IPv4-mapped one (`::ffff:7f00:1`)
 * the IPv4 address it reaches. The zone id is dropped: it names an interface,
 * not a different address.
 */
export function canonicalIp(text: string): string | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (bare.includes(':')) return canonicalIpv6(bare);
  return canonicalIpv4(bare);
}

/**
 * How a registered host is stored: a numeric host canonical (a record saying
 * `2130706433` helps nobody), keeping an IPv6 zone id (a link-local address
 * needs it to connect); a name lower-cased and otherwise as given (it is
 * resolved at connect time, so it must stay a name).
 */
export function canonicalHost(text: string): string {
  const ip = canonicalIp(text);
  if (ip === undefined) return text.toLowerCase();
  const zone = /%[^\]]+/.exec(text)?.[0];
  return zone !== undefined && net.isIPv6(ip) ? `${ip}${zone}` : ip;
}

/** One `inet_aton` part: hex, octal (leading 0, so `0` itself) or decimal; anything else is not a number. */
const IPV4_PART = /^(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/;

function canonicalIpv4(text: string): string | undefined {
  const parts = text.split('.');
  if (parts.length > 4 || !parts.every((part) => IPV4_PART.test(part))) return undefined;
  const values = parts.map((part) => (/^0[xX]/.test(part) ? parseInt(part.slice(2), 16) : part.length > 1 && part.startsWith('0') ? parseInt(part, 8) : Number(part)));
  // Every part but the last is one byte; the last fills the bytes left (a.b → 8+24 bits, a.b.c → 8+8+16).
  const last = values.pop()!;
  if (values.some((value) => value > 0xff) || last >= 2 ** (8 * (4 - values.length))) return undefined;
  let address = last;
  for (const [index, value] of values.entries()) address += value * 2 ** (8 * (3 - index));
  return [24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256).join('.');
}

function canonicalIpv6(text: string): string | undefined {
  const address = text.split('%', 1)[0]!;
  if (!net.isIPv6(address)) return undefined;
  // SocketAddress prints the RFC 5952 form; mapped IPv4 as ::ffff:a.b.c.d.
  const canonical = new net.SocketAddress({ address, family: 'ipv6' }).address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(canonical);
  return mapped ? mapped[1]! : canonical;
}

/** A name resolves to the addresses in RFC 6761's loopback names (`localhost`, `*.localhost`) whatever the resolver says. */
const LOOPBACK_NAME = /(?:^|\.)localhost\.?$/i;
const LOOPBACK_ADDRESSES = ['127.0.0.1', '::1'] as const;

/** A resolver: every address of a name (getaddrinfo by default, as a connect resolves it). */
export type Lookup = (host: string) => Promise<readonly { address: string }[]>;
const systemLookup: Lookup = (host) => dns.lookup(host, { all: true, verbatim: true });

/** Default limit on one name's resolution. */
export const RESOLVE_TIMEOUT_MS = 2_000;

/** The addresses `host` reaches without asking a resolver: itself when numeric, loopback for `localhost` names, else none. */
export function literalAddresses(host: string): string[] {
  const ip = canonicalIp(host);
  if (ip !== undefined) return [ip];
  return LOOPBACK_NAME.test(host) ? [...LOOPBACK_ADDRESSES] : [];
}

/**
 * Every canonical address a connect to `host` may reach: the address itself for a
 * numeric host; for a name, all addresses the system resolver returns (getaddrinfo,
 * as a connect resolves it), or loopback for a `localhost` name the resolver does not
 * know (RFC 6761; systemd-resolved answers those, glibc alone does not). Rejects when
 * any other name does not resolve within `timeoutMs`.
 */
export async function resolveHost(host: string, timeoutMs = RESOLVE_TIMEOUT_MS, lookup: Lookup = systemLookup): Promise<string[]> {
  const literal = literalAddresses(host);
  if (canonicalIp(host) !== undefined) return literal;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const found = await Promise.race([lookup(host), timeout]);
    const addresses = new Set(found.map(({ address }) => canonicalIp(address) ?? address));
    return addresses.size > 0 ? [...addresses] : literal;
  } catch (err) {
    if (literal.length === 0) throw err;
    return literal;
  } finally {
    clearTimeout(timer);
  }
}
