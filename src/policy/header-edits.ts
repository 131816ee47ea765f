/**
 * `requestHeaders` and `responseHeaders` (DESIGN §8): remove, then set (replace),
 * then add, each value a template (template.ts) compiled when the route is built.
 *
 * Request edits run before the pick on the client's headers, which the proxy then
 * forwards; the fields the proxy sets itself (X-Forwarded-*, X-Request-Id, Via)
 * and framing/hop-by-hop fields are refused at config load (config/policy-schema.ts).
 * A `set` whose value uses {instance} runs before each attempt instead, once the
 * attempt's instance is known. Response edits run on the response head.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Writable } from 'node:stream';
import type { HeaderEditsConfig } from '../config/policy-schema.js';
import { FieldNames, removeFields } from './head.js';
import type { PolicyRequest, RequestStep, ResponseStep } from './step.js';
import { Template } from './template.js';

interface FieldEdit {
  readonly name: string;
  readonly values: readonly Template[];
}

/** The compiled form of one header-edits key. */
interface CompiledEdits {
  readonly remove: readonly string[];
  readonly set: readonly FieldEdit[];
  readonly add: readonly FieldEdit[];
}

function compile(config: HeaderEditsConfig, keep: (template: Template) => boolean): CompiledEdits {
  const set = Object.entries(config.set)
    .map(([name, value]) => ({ name, values: [new Template(value)] }))
    .filter((edit) => keep(edit.values[0]!));
  const add = Object.entries(config.add)
    .map(([name, value]) => ({ name, values: (typeof value === 'string' ? [value] : value).map((v) => new Template(v)) }))
    .filter((edit) => edit.values.every(keep));
  return { remove: config.remove, set, add };
}

function render(edit: FieldEdit, request: PolicyRequest): string | string[] {
  const { values } = edit;
  return values.length === 1 ? values[0]!.render(request) : values.map((value) => value.render(request));
}

/** Request edits before the pick (every edit that does not need the attempt's instance). */
export class RequestHeaderEdits implements RequestStep {
  readonly #edits: CompiledEdits;
  /** Fields this step writes: a client's `Connection: <name>` must not strip them later. */
  readonly #written: FieldNames;

  constructor(edits: CompiledEdits) {
    this.#edits = edits;
    this.#written = new FieldNames([...edits.set, ...edits.add].map((edit) => edit.name));
  }

  run(request: PolicyRequest): boolean {
    const headers = request.req.headers;
    const { remove, set, add } = this.#edits;
    for (let i = 0; i < remove.length; i++) delete headers[remove[i]!];
    for (let i = 0; i < set.length; i++) headers[set[i]!.name] = render(set[i]!, request);
    for (let i = 0; i < add.length; i++) appendRequestField(headers, add[i]!.name, render(add[i]!, request));
    if (headers.connection !== undefined && this.#written.size > 0) keepFromConnection(headers, this.#written);
    return true;
  }
}

/** `set` edits whose value uses {instance}: run before each attempt (the value follows the instance). */
export class AttemptHeaderEdits implements RequestStep {
  constructor(readonly set: readonly FieldEdit[]) {}

  run(request: PolicyRequest): boolean {
    const headers = request.req.headers;
    for (let i = 0; i < this.set.length; i++) headers[this.set[i]!.name] = render(this.set[i]!, request);
    return true;
  }
}

export class ResponseHeaderEdits implements ResponseStep {
  readonly #edits: CompiledEdits;
  /** remove and set both drop the upstream's fields first. */
  readonly #dropped: FieldNames;

  constructor(edits: CompiledEdits) {
    this.#edits = edits;
    this.#dropped = new FieldNames([...edits.remove, ...edits.set.map((edit) => edit.name)]);
  }

  onHead(request: PolicyRequest, _status: number, head: string[], sink: Writable): Writable {
    if (this.#dropped.size > 0) removeFields(head, this.#dropped);
    const { set, add } = this.#edits;
    for (let i = 0; i < set.length; i++) head.push(set[i]!.name, set[i]!.values[0]!.render(request));
    for (let i = 0; i < add.length; i++) {
      const { name, values } = add[i]!;
      for (let v = 0; v < values.length; v++) head.push(name, values[v]!.render(request));
    }
    return sink;
  }
}

/** One more field line (node:http sends each array element as its own line). */
function appendRequestField(headers: IncomingHttpHeaders, name: string, value: string | string[]): void {
  const existing = headers[name];
  if (existing === undefined) headers[name] = value;
  else headers[name] = [...(Array.isArray(existing) ? existing : [existing]), ...(Array.isArray(value) ? value : [value])];
}

/**
 * A client naming a field in Connection makes the proxy drop it as hop-by-hop (RFC 9110 §7.6.1):
 * such names are taken out of Connection so the route's edits reach the upstream.
 */
function keepFromConnection(headers: IncomingHttpHeaders, written: FieldNames): void {
  const connection = headers.connection!;
  // `keep-alive` and `close`, nearly every Connection header there is, name no field.
  if (connection.length <= 10 && /^(keep-alive|close)$/i.test(connection)) return;
  const tokens = connection.split(',');
  const kept = tokens.filter((token) => !written.has(token.trim()));
  if (kept.length !== tokens.length) headers.connection = kept.join(',');
}

/** The route's header steps: before the pick, per attempt ({instance}), and on the response. */
export function buildRequestHeaderEdits(config: HeaderEditsConfig): { beforePick: RequestHeaderEdits; perAttempt: AttemptHeaderEdits | undefined } {
  const perAttempt = compile({ set: config.set, add: {}, remove: [] }, (t) => t.uses('instance')).set;
  const beforePick = new RequestHeaderEdits(compile(config, (t) => !t.uses('instance')));
  return { beforePick, perAttempt: perAttempt.length === 0 ? undefined : new AttemptHeaderEdits(perAttempt) };
}

export function buildResponseHeaderEdits(config: HeaderEditsConfig): ResponseHeaderEdits {
  return new ResponseHeaderEdits(compile(config, () => true));
}
