/**
 * The per-request PickContext: header and cookie lookups are lazy, and the
 * Cookie header is parsed at most once (only a policy that needs a cookie pays).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { PickContext } from '../balancer/policy.js';
import type { Endpoint } from '../endpoint.js';

/** The tried list of a request that has tried nothing yet (nearly all): shared, no array per request. */
const NONE_TRIED: readonly Endpoint[] = Object.freeze([]);

export class RequestPickContext implements PickContext {
  readonly clientIp: string;
  /** Made by the first addTried. */
  #tried: Endpoint[] | undefined = undefined;
  readonly #headers: IncomingHttpHeaders;
  #cookies: Map<string, string> | undefined;

  constructor(headers: IncomingHttpHeaders, clientIp: string) {
    this.#headers = headers;
    this.clientIp = clientIp;
  }

  /** `name` in lower case (Node lower-cases incoming header names). */
  header(name: string): string | undefined {
    const value = this.#headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  }

  cookie(name: string): string | undefined {
    this.#cookies ??= parseCookies(this.#headers.cookie);
    return this.#cookies.get(name);
  }

  /** Endpoints already tried by this request; the attempt loop adds one after each failed attempt. */
  get tried(): readonly Endpoint[] {
    return this.#tried ?? NONE_TRIED;
  }

  addTried(endpoint: Endpoint): void {
    (this.#tried ??= []).push(endpoint);
  }

  /** Drops the endpoints added after the first `count` (instances skipped only for being full). */
  forgetTried(count: number): void {
    if (this.#tried !== undefined) this.#tried.length = count;
  }
}

/** `a=1; b="2"` → {a: 1, b: 2}; the first occurrence of a name wins (RFC 6265 §5.4 order). */
export function parseCookies(header: string | string[] | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (header === undefined) return cookies;
  const text = Array.isArray(header) ? header.join('; ') : header;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf(';', start);
    if (end === -1) end = text.length;
    const eq = text.indexOf('=', start);
    if (eq !== -1 && eq < end) {
      const name = text.slice(start, eq).trim();
      let value = text.slice(eq + 1, end).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      if (name !== '' && !cookies.has(name)) cookies.set(name, value);
    }
    start = end + 1;
  }
  return cookies;
}

export function createPickContext(req: { readonly headers: IncomingHttpHeaders }, clientIp: string): RequestPickContext {
  return new RequestPickContext(req.headers, clientIp);
}

/** No headers and no cookies: what a TCP connection offers the balancer besides its address. */
const NO_HEADERS: IncomingHttpHeaders = Object.freeze(Object.create(null) as IncomingHttpHeaders);

/** TCP connections: balancers see only the client address. */
export function createConnectionPickContext(clientIp: string): RequestPickContext {
  return new RequestPickContext(NO_HEADERS, clientIp);
}
