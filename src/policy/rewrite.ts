/**
 * `rewrite` (DESIGN §8): changes the path sent upstream, after `stripPrefix`
 * (the route's match already removed the prefix; this step sees what is left).
 * The query is kept as it is.
 *
 * - prefix { from, to }: on segment boundaries (`/api` matches `/api` and `/api/x`,
 *   never `/apix`);
 * - regex + replacement: the first match in the path is replaced (JavaScript
 *   String.replace: `$1`, `$<name>`). The pattern passed a star-height check at
 *   config load (safe-regex2), and paths longer than MAX_REWRITE_PATH_CHARS are
 *   answered 414 instead of being matched, so no request can make it run long.
 */
import { MAX_REWRITE_PATH_CHARS, type RewriteConfig } from '../config/policy-schema.js';
import type { PolicyRequest, RequestStep } from './step.js';

const URI_TOO_LONG = JSON.stringify({ error: 'uri_too_long', message: `The request path is longer than ${MAX_REWRITE_PATH_CHARS} characters.` });

/** A path and its query ("" or starting with "?"). */
function splitQuery(target: string): [path: string, query: string] {
  const at = target.indexOf('?');
  return at === -1 ? [target, ''] : [target.slice(0, at), target.slice(at)];
}

/** Prefixes without a trailing "/" (except the root), so "/a/" and "/a" mean the same. */
function trimSlash(prefix: string): string {
  return prefix.length > 1 && prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
}

export class PrefixRewrite implements RequestStep {
  readonly #from: string;
  readonly #to: string;

  constructor(from: string, to: string) {
    this.#from = trimSlash(from);
    this.#to = trimSlash(to);
  }

  /** The rewritten path, or undefined when `from` does not match it. */
  rewrite(path: string): string | undefined {
    const from = this.#from;
    let rest: string;
    if (from === '/') rest = path;
    else if (path.startsWith(from) && (path.length === from.length || path.charCodeAt(from.length) === 0x2f /* / */)) rest = path.slice(from.length);
    else return undefined;
    if (this.#to === '/') return rest.startsWith('/') ? rest : `/${rest}`;
    return this.#to + rest;
  }

  run(request: PolicyRequest): boolean {
    const [path, query] = splitQuery(request.upstreamPath);
    const rewritten = this.rewrite(path);
    if (rewritten !== undefined) request.upstreamPath = rewritten + query;
    return true;
  }
}

export class RegexRewrite implements RequestStep {
  readonly #regex: RegExp;

  constructor(
    regex: string,
    readonly replacement: string,
  ) {
    this.#regex = new RegExp(regex);
  }

  /** The rewritten path ("/" is put in front when the result lacks it). */
  rewrite(path: string): string {
    const rewritten = path.replace(this.#regex, this.replacement);
    return rewritten.startsWith('/') ? rewritten : `/${rewritten}`;
  }

  run(request: PolicyRequest): boolean {
    const [path, query] = splitQuery(request.upstreamPath);
    if (path.length > MAX_REWRITE_PATH_CHARS) {
      request.respond(414, { 'content-type': 'application/json', 'x-waypost-error': 'uri_too_long' }, URI_TOO_LONG);
      return false;
    }
    request.upstreamPath = this.rewrite(path) + query;
    return true;
  }
}

export function buildRewrite(config: RewriteConfig): RequestStep {
  return 'prefix' in config ? new PrefixRewrite(config.prefix.from, config.prefix.to) : new RegexRewrite(config.regex, config.replacement);
}
