/**
 * Sticky sessions by cookie, wrapping any policy: a request whose affinity
 * cookie names an endpoint of the current set goes there; otherwise the inner
 * policy picks and `onResponse` (re)sets the cookie.
 *
 * The cookie value is an opaque, stable token derived from the endpoint key
 * (SHA-256, truncated), never the raw address: it leaks no internal topology and
 * every proxy computes the same token, so affinity survives a different proxy
 * answering the next request. An endpoint that leaves the set (unhealthy,
 * draining, deregistered) simply stops matching and the client is re-pinned.
 */
import { createHash } from 'node:crypto';
import type { Balancer, PickContext } from './policy.js';
import type { Endpoint, EndpointSet } from '../endpoint.js';
import { wasTried } from './tried.js';

export const DEFAULT_STICKY_COOKIE = 'waypost_affinity';

export interface StickyOptions {
  /** @default "waypost_affinity" */
  cookie?: string;
  /** Cookie lifetime in ms; 0 = session cookie. @default 0 */
  ttlMs?: number;
}

/** Token cache by endpoint key; cleared when it grows past this (tokens are cheap to recompute). */
const TOKEN_CACHE_LIMIT = 100_000;
const tokenCache = new Map<string, string>();

/** The affinity token of an endpoint key: 16 base64url characters of SHA-256. */
export function affinityToken(key: string): string {
  let token = tokenCache.get(key);
  if (token === undefined) {
    token = createHash('sha256').update(key).digest('base64url').slice(0, 16);
    if (tokenCache.size >= TOKEN_CACHE_LIMIT) tokenCache.clear();
    tokenCache.set(key, token);
  }
  return token;
}

export class StickyBalancer implements Balancer {
  readonly name: string;
  readonly cookieName: string;
  readonly #inner: Balancer;
  readonly #cookieSuffix: string;
  readonly #byToken = new WeakMap<EndpointSet, Map<string, Endpoint>>();

  constructor(inner: Balancer, options: StickyOptions = {}) {
    this.#inner = inner;
    this.name = inner.name;
    this.cookieName = options.cookie ?? DEFAULT_STICKY_COOKIE;
    const ttlMs = options.ttlMs ?? 0;
    this.#cookieSuffix = `; Path=/; HttpOnly; SameSite=Lax${ttlMs > 0 ? `; Max-Age=${Math.ceil(ttlMs / 1000)}` : ''}`;
  }

  pick(set: EndpointSet, ctx: PickContext): Endpoint | undefined {
    const token = ctx.cookie(this.cookieName);
    if (token !== undefined) {
      const pinned = this.#tokens(set).get(token);
      if (pinned !== undefined && pinned.weight > 0 && !wasTried(pinned, ctx)) return pinned;
    }
    return this.#inner.pick(set, ctx);
  }

  /** The Set-Cookie value that pins a client to `endpoint`. */
  setCookieValue(endpoint: Endpoint): string {
    return `${this.cookieName}=${affinityToken(endpoint.key)}${this.#cookieSuffix}`;
  }

  /** RouteMatch.onResponse: pin the client to the endpoint that served it. */
  onResponse(endpoint: Endpoint, setHeader: (name: string, value: string) => void): void {
    setHeader('set-cookie', this.setCookieValue(endpoint));
  }

  #tokens(set: EndpointSet): Map<string, Endpoint> {
    let tokens = this.#byToken.get(set);
    if (tokens === undefined) {
      tokens = new Map(set.endpoints.map((e) => [affinityToken(e.key), e]));
      this.#byToken.set(set, tokens);
    }
    return tokens;
  }
}

export function createSticky(inner: Balancer, options: StickyOptions = {}): StickyBalancer {
  return new StickyBalancer(inner, options);
}
