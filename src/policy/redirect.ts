/**
 * `redirect` (DESIGN §8), answered by the proxy, per route (a request step) and
 * per listener (`listen[].redirect: https`, applied by the HTTP server before routing):
 *
 * - `https`: to https://{host}{uri} on the default port, only for requests that did
 *   not arrive over TLS. 301 for GET and HEAD (cached by browsers, understood by
 *   every client) and 308 for other methods, which keeps the method and body (as
 *   Traefik's redirectScheme does);
 * - `{ to, status }`: to the rendered template, whatever the scheme.
 *
 * The host put in Location is the request's host only when it is a plain host name
 * or IP literal (no userinfo, path, backslash or percent sign): anything else is
 * answered 400, so a crafted Host cannot point Location elsewhere than itself.
 */
import type { RedirectConfig } from '../config/policy-schema.js';
import { usesTemplateVariable } from '../config/template-syntax.js';
import type { PolicyRequest, RequestStep } from './step.js';
import { Template } from './template.js';

/** A reg-name of letters, digits, "-", "." and "_", or an IPv6 literal in brackets. */
const PLAIN_HOST = /^(?:[a-z0-9_-]+(?:\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\])$/;

const BAD_HOST = JSON.stringify({ error: 'bad_host', message: 'The request has no host a redirect can name.' });
const BAD_HOST_HEADERS = { 'content-type': 'application/json', 'x-waypost-error': 'bad_host' } as const;

/** Whether `host` (lower-case, without port) can be put in a Location as it is. */
export function isPlainHost(host: string): boolean {
  return host.length > 0 && host.length <= 253 && PLAIN_HOST.test(host);
}

/** The status of a redirect to https: 301 keeps GET/HEAD simple, 308 keeps other methods and their body. */
export function httpsRedirectStatus(method: string | undefined): 301 | 308 {
  return method === 'GET' || method === 'HEAD' ? 301 : 308;
}

/** The body of a redirect: a line for the humans who see it; HEAD answers drop it. */
export function redirectBody(location: string): string {
  return `Redirecting to ${location}\n`;
}

function answerRedirect(request: PolicyRequest, status: number, location: string): false {
  request.respond(status, { location, 'content-type': 'text/plain; charset=utf-8' }, redirectBody(location));
  return false;
}

class HttpsRedirect implements RequestStep {
  run(request: PolicyRequest): boolean {
    if (request.scheme === 'https') return true;
    if (!isPlainHost(request.host)) {
      request.respond(400, BAD_HOST_HEADERS, BAD_HOST);
      return false;
    }
    return answerRedirect(request, httpsRedirectStatus(request.req.method), `https://${request.host}${request.req.url ?? '/'}`);
  }
}

class TemplateRedirect implements RequestStep {
  readonly #to: Template;
  readonly #usesHost: boolean;

  constructor(
    to: string,
    readonly status: number,
  ) {
    this.#to = new Template(to);
    this.#usesHost = usesTemplateVariable(to, 'host');
  }

  run(request: PolicyRequest): boolean {
    if (this.#usesHost && !isPlainHost(request.host)) {
      request.respond(400, BAD_HOST_HEADERS, BAD_HOST);
      return false;
    }
    return answerRedirect(request, this.status, this.#to.render(request));
  }
}

export function buildRedirect(config: RedirectConfig): RequestStep {
  return config === 'https' ? new HttpsRedirect() : new TemplateRedirect(config.to, config.status);
}
