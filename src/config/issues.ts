/**
 * Config errors in Waypost's words. A zod issue says what failed in zod's
 * terms ("Invalid input: expected number, received string"); an operator needs
 * the field, what it takes and what it got: `workers: expected a whole number
 * ≥ 1, got "abc"`. What a field takes is read from the schema itself (its type,
 * bounds and `describe()` text), so the words stay right when the schema changes.
 */
import type { z } from 'zod';

type Issue = z.core.$ZodIssue;
/** The parts of a zod schema this file reads; zod's own classes carry more. */
interface Schema {
  readonly _zod: { readonly def: Def };
  readonly description?: string | undefined;
  /** ZodNumber: `.int()` was applied. */
  readonly isInt?: boolean;
  /** ZodNumber: the `.min()`, or null. */
  readonly minValue?: number | null;
}
interface Def {
  readonly type: string;
  readonly innerType?: Schema;
  readonly in?: Schema;
  readonly out?: Schema;
  readonly element?: Schema;
  readonly shape?: Record<string, Schema>;
  readonly items?: readonly Schema[];
  readonly options?: readonly Schema[];
  readonly keyType?: Schema;
  readonly valueType?: Schema;
  readonly entries?: Record<string, unknown>;
  readonly values?: readonly unknown[];
}

/** Wrappers that do not change what a field accepts. */
const WRAPPERS = new Set(['default', 'prefault', 'optional', 'nullable', 'readonly', 'catch', 'nonoptional']);
/** Longest rendering of a bad value in a message. */
const MAX_VALUE_CHARS = 60;

/**
 * `expected …, got …` (or `unknown field(s) …`) for one issue. `root` is the
 * whole schema the issue came from; the field's own schema is found by the path.
 */
export function describeIssue(issue: Issue, root: z.ZodType): string {
  return describe(issue, root as unknown as Schema);
}

function describe(issue: Issue, root: Schema): string {
  const schema = schemaAt(root, issue.path);
  const got = `, got ${render(issue.input)}`;
  switch (issue.code) {
    case 'unrecognized_keys':
      return `unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    case 'invalid_type':
    case 'invalid_union':
      return `expected ${schema ? expectedOf(schema) : article(issue.code === 'invalid_type' ? issue.expected : 'valid value')}${got}`;
    case 'invalid_value':
      return `expected ${issue.values.length === 1 ? render(issue.values[0]) : `one of ${issue.values.map(render).join(', ')}`}${got}`;
    case 'too_small':
      return `expected ${bound(issue.origin, 'at least', issue.inclusive === false ? '>' : '≥', issue.minimum, schema)}${got}`;
    case 'too_big':
      return `expected ${bound(issue.origin, 'at most', issue.inclusive === false ? '<' : '≤', issue.maximum, schema)}${got}`;
    case 'not_multiple_of':
      return `expected a multiple of ${String(issue.divisor)}${got}`;
    case 'invalid_key':
    case 'invalid_element': {
      // A record key (or map value): the path ends at the key; the inner issue is about the key's own schema.
      const container = schemaAt(root, issue.path.slice(0, -1));
      const def = container && unwrap(container)._zod.def;
      const part = issue.code === 'invalid_key' ? def?.keyType : def?.valueType;
      const inner = issue.issues[0];
      return inner && part ? describe({ ...inner, path: [] } as Issue, part) : `expected a valid entry${got}`;
    }
    case 'invalid_format':
    case 'custom':
    default:
      // Our own checks (durations, HOST:PORT, CIDR, patterns) already say what they expect, in words.
      if (issue.message.startsWith('expected') || issue.message.startsWith('must')) {
        return issue.message.includes(', got ') ? issue.message : `${issue.message}${got}`;
      }
      return `expected ${schema ? expectedOf(schema) : 'a valid value'}${got}`;
  }
}

/** The schema of the field at `path`, through objects, lists, records and wrappers; undefined when lost. */
function schemaAt(root: Schema, path: readonly PropertyKey[]): Schema | undefined {
  let schema: Schema | undefined = root;
  for (const key of path) {
    schema = schema && unwrap(schema);
    const def: Def | undefined = schema?._zod.def;
    if (def === undefined) return undefined;
    if (def.type === 'object') schema = def.shape?.[String(key)];
    else if (def.type === 'array') schema = def.element;
    else if (def.type === 'tuple') schema = def.items?.[Number(key)];
    else if (def.type === 'record') schema = def.valueType;
    else return undefined;
  }
  return schema;
}

/** Through wrappers and pipes to the schema that decides what is accepted; a `describe()` text stops the walk. */
function unwrap(schema: Schema): Schema {
  let current = schema;
  for (;;) {
    if (current.description !== undefined) return current;
    const def = current._zod.def;
    if (WRAPPERS.has(def.type) && def.innerType) current = def.innerType;
    // A transform after the check (durations, HOST:PORT) accepts what its input accepts;
    // a preprocess before it (a bare listen address) accepts what its output accepts.
    else if (def.type === 'pipe' && def.in && def.out) current = def.out._zod.def.type === 'transform' ? def.in : def.out;
    else return current;
  }
}

/** What a schema accepts, as a phrase: `a whole number ≥ 1`, `a list of { address: HOST:PORT }`. */
function expectedOf(input: Schema): string {
  const schema = unwrap(input);
  if (schema.description !== undefined) return schema.description;
  const { def } = schema._zod;
  switch (def.type) {
    case 'number': {
      const min = schema.minValue;
      return `${isWhole(schema) ? 'a whole number' : 'a number'}${typeof min === 'number' && Number.isFinite(min) ? ` ≥ ${min}` : ''}`;
    }
    case 'string':
      return 'a string';
    case 'boolean':
      return 'true or false';
    case 'enum':
      return `one of ${Object.values(def.entries ?? {}).map(render).join(', ')}`;
    case 'literal':
      return (def.values ?? []).map(render).join(' or ');
    case 'array':
      return def.element ? `a list of ${plural(expectedOf(def.element))}` : 'a list';
    case 'tuple':
      return `a list of ${def.items?.length ?? 0} values`;
    case 'record':
      return def.valueType ? `a mapping of names to ${plural(expectedOf(def.valueType))}` : 'a mapping';
    case 'object':
      return objectShape(def.shape ?? {});
    case 'union':
      return (def.options ?? []).map(expectedOf).join(' or ');
    default:
      return article(def.type);
  }
}

/** `{ address: HOST:PORT }`: the fields an object needs (those without a default); `a mapping of fields` when none. */
function objectShape(shape: Record<string, Schema>): string {
  const required = Object.entries(shape).filter(([, field]) => !isOptional(field));
  if (required.length === 0) return 'a mapping of fields';
  return `{ ${required.map(([name, field]) => `${name}: ${expectedOf(field)}`).join(', ')} }`;
}

function isOptional(schema: Schema): boolean {
  const type = schema._zod.def.type;
  return type === 'optional' || type === 'default' || type === 'prefault';
}

function isWhole(schema: Schema): boolean {
  return schema.isInt === true;
}

/** `at least 1 entry`, `≥ 256`, `at most 63 characters`: the bound an issue crossed, with its unit. */
function bound(origin: string, words: string, symbol: string, limit: number | bigint, schema: Schema | undefined): string {
  const n = Number(limit);
  switch (origin) {
    case 'array':
    case 'set':
      return `${words} ${n} ${n === 1 ? 'entry' : 'entries'}`;
    case 'string':
      return `${words} ${n} ${n === 1 ? 'character' : 'characters'}`;
    default:
      return `${schema && isWhole(unwrap(schema)) ? 'a whole number' : 'a number'} ${symbol} ${String(limit)}`;
  }
}

/** `a string` → `strings`, `a whole number ≥ 1` → `whole numbers ≥ 1`; other phrases lose only their article. */
function plural(phrase: string): string {
  return phrase.replace(/^an? (whole number|number|string|list|mapping)\b/, '$1s').replace(/^an? /, '');
}

function article(noun: string): string {
  return /^[aeiou]/i.test(noun) ? `an ${noun}` : `a ${noun}`;
}

/** A value as the operator wrote it: strings quoted, the rest as JSON, cut short; `nothing` when absent. */
function render(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    // A value too deep or cyclic to print (config comes from a file, so this is unusual).
    text = Array.isArray(value) ? 'a list' : String(value);
  }
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 3)}...` : text;
}
