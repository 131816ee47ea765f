/**
 * The request line and Host, made well-formed before routing (RFC 9112 §3.2).
 * A request in absolute-form (`GET http://shop.example/cart`, as clients send
 * to a forward proxy) is rewritten to origin-form (`/cart`), so the upstream
 * never sees a full URI and routing sees the same path either way. The Host a
 * request is routed by must be unambiguous: two Host headers, or a Host that
 * names another authority than the absolute URI, are refused.
 */
import type { IncomingMessage } from 'node:http';
import type { ProxyErrorCode } from './responses.js';

/** Why a request line or Host was refused; each is a proxy-made 400 of that code. */
export type RequestTargetProblem = Extract<ProxyErrorCode, 'bad_host' | 'bad_request_target'>;

const ABSOLUTE_FORM = /^(https?):\/\//i;
const HOST_NAME = /^host$/i;
const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: ':80', https: ':443' };

/**
 * Checks `req` and rewrites an absolute-form target to origin-form in place
 * (`req.url`; `req.headers.host` from the URI when the client sent none, as
 * HTTP/1.0 may). Returns the problem to answer with, or undefined when the
 * request may be routed. Origin-form requests with one Host cost one pass over
 * the raw header names and allocate nothing.
 */
export function normalizeRequestTarget(req: IncomingMessage): RequestTargetProblem | undefined {
  if (hasSeveralHosts(req.rawHeaders)) return 'bad_host';
  const url = req.url ?? '';
  if (url.startsWith('/')) return undefined;
  // `OPTIONS *` asks about the server as a whole (asterisk-form); routing answers it like any path.
  if (url === '*' && req.method === 'OPTIONS') return undefined;

  const scheme = ABSOLUTE_FORM.exec(url);
  if (scheme === null) return 'bad_request_target';
  const afterScheme = scheme[0].length;
  let end = afterScheme;
  while (end < url.length && url[end] !== '/' && url[end] !== '?' && url[end] !== '#') end++;
  const authority = url.slice(afterScheme, end);
  // userinfo (`user:pass@host`) is deprecated in http(s) URIs (RFC 9110 §4.2.4) and hides the real host.
  if (authority.length === 0 || authority.includes('@')) return 'bad_request_target';

  const host = req.headers.host;
  const defaultPort = DEFAULT_PORTS[scheme[1]!.toLowerCase()]!;
  if (host === undefined) req.headers.host = authority;
  else if (withoutPort(host, defaultPort) !== withoutPort(authority, defaultPort)) return 'bad_host';

  const rest = url.slice(end);
  // A fragment never belongs in a request target (RFC 9112 §3.2).
  if (rest.startsWith('#')) return 'bad_request_target';
  req.url = rest.startsWith('/') ? rest : `/${rest}`;
  return undefined;
}

/** More than one Host header: Node keeps only the first in `req.headers`, so count the raw names. */
function hasSeveralHosts(rawHeaders: readonly string[]): boolean {
  let seen = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.length === 4 && HOST_NAME.test(rawHeaders[i]!)) {
      if (seen) return true;
      seen = true;
    }
  }
  return false;
}

/** An authority for comparison: lower case, without the scheme's default port. */
function withoutPort(authority: string, defaultPort: string): string {
  const lower = authority.toLowerCase();
  return lower.endsWith(defaultPort) ? lower.slice(0, -defaultPort.length) : lower;
}
