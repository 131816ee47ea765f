/**
 * Address helpers every layer uses: `HOST:PORT` listen addresses (`[::1]:8080` for
 * IPv6, `:8080` for all interfaces) and CIDR ranges. A leaf module: it imports
 * nothing of Waypost's.
 */
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
