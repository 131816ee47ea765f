/**
 * Templates (config/template-syntax.ts) compiled once per route: a value without
 * variables is one pre-built string; otherwise a list of literal parts and
 * variables joined per request, with no parsing and no regex on the request path.
 */
import { templateVariablePattern, type TemplateVariable } from '../config/template-syntax.js';
import type { PolicyRequest } from './step.js';

type Part = string | TemplateVariable;

export class Template {
  /** The whole value when the template has no variable (nothing to render per request). */
  readonly constant: string | undefined;
  /** Literal strings at even indexes, variables at odd ones. */
  readonly #parts: readonly Part[];

  constructor(readonly source: string) {
    const parts: Part[] = [];
    let last = 0;
    for (const match of source.matchAll(templateVariablePattern())) {
      parts.push(source.slice(last, match.index), match[1] as TemplateVariable);
      last = match.index + match[0].length;
    }
    parts.push(source.slice(last));
    this.#parts = parts;
    this.constant = parts.length === 1 ? parts[0] : undefined;
  }

  /** Whether rendering reads `name` (e.g. {instance}, known only per attempt). */
  uses(name: TemplateVariable): boolean {
    for (let i = 1; i < this.#parts.length; i += 2) if (this.#parts[i] === name) return true;
    return false;
  }

  render(request: PolicyRequest): string {
    if (this.constant !== undefined) return this.constant;
    const parts = this.#parts;
    let out = parts[0]!;
    for (let i = 1; i < parts.length; i += 2) out += variable(request, parts[i] as TemplateVariable) + parts[i + 1]!;
    return out;
  }
}

/** A variable's value; the URL parts are the client's request target (before stripPrefix or rewrite). */
function variable(request: PolicyRequest, name: TemplateVariable): string {
  switch (name) {
    case 'client_ip':
      return request.clientIp;
    case 'request_id':
      return request.requestId;
    case 'service':
      return request.service;
    case 'instance':
      return request.instance;
    case 'host':
      return request.host;
    case 'scheme':
      return request.scheme;
    case 'uri':
      return request.req.url ?? '/';
    case 'path': {
      const url = request.req.url ?? '/';
      const query = url.indexOf('?');
      return query === -1 ? url : url.slice(0, query);
    }
    case 'query': {
      const url = request.req.url ?? '';
      const query = url.indexOf('?');
      return query === -1 ? '' : url.slice(query + 1);
    }
  }
}
