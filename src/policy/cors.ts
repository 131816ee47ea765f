/**
 * `cors` (DESIGN §8): the proxy answers CORS for the route.
 *
 * - Preflight (OPTIONS with Origin and Access-Control-Request-Method): answered
 *   204 by the proxy and never forwarded. A matching origin gets Allow-Origin,
 *   Allow-Methods, Allow-Headers (the configured list, or the requested headers
 *   echoed when the list is empty), Max-Age and Allow-Credentials; any other origin
 *   gets the 204 without them, which the browser reads as a refusal.
 * - Actual responses: the upstream's own Access-Control-Allow-Origin, -Credentials
 *   and -Expose-Headers are replaced; a matching origin gets the proxy's.
 *
 * `Vary: Origin` goes on every answer whose CORS headers depend on the origin, so
 * a cache never serves one origin's answer to another.
 * Origin patterns are compiled to exact strings and prefix/suffix pairs: no regex
 * is built from config text.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Writable } from 'node:stream';
import type { CorsConfig } from '../config/policy-schema.js';
import { FieldNames, appendVary, removeFields } from './head.js';
import type { PolicyRequest, RequestStep, ResponseStep } from './step.js';

/** Which origins a route allows: compiled once from `origins`. */
export class OriginMatcher {
  readonly any: boolean;
  readonly #exact: ReadonlySet<string>;
  /** `https://*.example.com:8443` → ["https://", ".example.com:8443"]. */
  readonly #wildcards: readonly (readonly [prefix: string, suffix: string])[];

  constructor(origins: readonly string[]) {
    this.any = origins.includes('*');
    this.#exact = new Set(origins.filter((origin) => !origin.includes('*')));
    this.#wildcards = origins
      .filter((origin) => origin !== '*' && origin.includes('*'))
      .map((origin) => {
        const star = origin.indexOf('*');
        return [origin.slice(0, star), origin.slice(star + 1)] as const;
      });
  }

  matches(origin: string): boolean {
    if (this.any || this.#exact.has(origin)) return true;
    for (const [prefix, suffix] of this.#wildcards) {
      if (origin.length > prefix.length + suffix.length && origin.startsWith(prefix) && origin.endsWith(suffix)) {
        if (HOST_LABELS.test(origin.slice(prefix.length, origin.length - suffix.length))) return true;
      }
    }
    return false;
  }
}

/** Upstream CORS fields the proxy replaces on a route with `cors`. */
/** What the `*` of an origin pattern stands for: one or more host labels (no port, path or userinfo). */
const HOST_LABELS = /^[a-z0-9-]+(\.[a-z0-9-]+)*$/;

const REPLACED = new FieldNames(['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-expose-headers']);

export class Cors {
  readonly origins: OriginMatcher;
  /** `*` without credentials: one constant answer for every origin (no Vary needed). */
  readonly #star: boolean;
  readonly #preflightHeaders: OutgoingHttpHeaders;
  readonly #echoRequestedHeaders: boolean;
  readonly #responseFields: readonly string[];

  constructor(config: CorsConfig) {
    this.origins = new OriginMatcher(config.origins);
    this.#star = this.origins.any && !config.credentials;
    this.#echoRequestedHeaders = config.headers.length === 0;
    this.#preflightHeaders = {
      'access-control-allow-methods': config.methods.join(', '),
      ...(config.headers.length > 0 ? { 'access-control-allow-headers': config.headers.join(', ') } : {}),
      'access-control-max-age': String(Math.floor(config.maxAge / 1000)),
      ...(config.credentials ? { 'access-control-allow-credentials': 'true' } : {}),
    };
    this.#responseFields = [
      ...(config.credentials ? ['access-control-allow-credentials', 'true'] : []),
      ...(config.exposeHeaders.length > 0 ? ['access-control-expose-headers', config.exposeHeaders.join(', ')] : []),
    ];
  }

  #allowOrigin(origin: string): string {
    return this.#star ? '*' : origin;
  }

  /** The preflight answer's headers: the CORS ones only for an allowed origin. */
  preflightHeaders(origin: string, requestedHeaders: string | undefined): OutgoingHttpHeaders {
    const vary = this.#star ? {} : { vary: 'Origin' };
    if (!this.origins.matches(origin)) return vary;
    const headers: OutgoingHttpHeaders = { ...vary, 'access-control-allow-origin': this.#allowOrigin(origin), ...this.#preflightHeaders };
    if (this.#echoRequestedHeaders && requestedHeaders !== undefined) headers['access-control-allow-headers'] = requestedHeaders;
    return headers;
  }

  /** Edits an actual response's head. */
  editHead(origin: string | undefined, head: string[]): void {
    removeFields(head, REPLACED);
    if (!this.#star) appendVary(head, 'Origin');
    if (origin === undefined || !this.origins.matches(origin)) return;
    head.push('access-control-allow-origin', this.#allowOrigin(origin));
    for (let i = 0; i < this.#responseFields.length; i++) head.push(this.#responseFields[i]!);
  }
}

class CorsPreflight implements RequestStep {
  constructor(readonly cors: Cors) {}

  run(request: PolicyRequest): boolean {
    const { req } = request;
    if (req.method !== 'OPTIONS') return true;
    const { origin } = req.headers;
    if (origin === undefined || req.headers['access-control-request-method'] === undefined) return true;
    const requested = req.headers['access-control-request-headers'];
    request.respond(204, this.cors.preflightHeaders(origin, requested));
    return false;
  }
}

class CorsResponse implements ResponseStep {
  constructor(readonly cors: Cors) {}

  onHead(request: PolicyRequest, _status: number, head: string[], sink: Writable): Writable {
    this.cors.editHead(request.req.headers.origin, head);
    return sink;
  }
}

/** The route's two CORS steps: the preflight answer and the actual responses' headers. */
export function buildCors(config: CorsConfig): { preflight: RequestStep; response: ResponseStep } {
  const cors = new Cors(config);
  return { preflight: new CorsPreflight(cors), response: new CorsResponse(cors) };
}
