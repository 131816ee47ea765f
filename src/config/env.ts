/**
 * `WAYPOST_*` environment variables ↔ config paths. The names are derived from the
 * schema (`admin.maxBodyBytes` ↔ `WAYPOST_ADMIN_MAX_BODY_BYTES`), never listed by
 * hand, so a new field gets its variable for free.
 */
import type { z } from 'zod';
import { configError } from '../errors.js';
import { configSchema } from './schema.js';

export type LeafKind = 'string' | 'number' | 'boolean' | 'list' | 'json';

export interface EnvField {
  /** Config path, e.g. ['admin', 'token']. */
  readonly path: readonly string[];
  readonly variable: string;
  readonly kind: LeafKind;
}

interface ZodNodeDef {
  type: string;
  innerType?: ZodNode;
  in?: ZodNode;
  shape?: Record<string, ZodNode>;
  options?: ZodNode[];
  schema?: ZodNode;
}
interface ZodNode {
  _zod: { def: ZodNodeDef };
}

/** Strip wrappers (default, optional, pipe, …) down to the type that parses input. */
function unwrap(node: ZodNode): ZodNode {
  let current = node;
  for (;;) {
    const def = current._zod.def;
    if (def.innerType) current = def.innerType;
    else if (def.type === 'pipe' && def.in) current = def.in;
    else return current;
  }
}

function leafKind(node: ZodNode): LeafKind {
  const def = unwrap(node)._zod.def;
  switch (def.type) {
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'array':
      return 'list';
    case 'string':
    case 'enum':
      return 'string';
    case 'union':
      // Durations (string | number) and listen addresses are given as text.
      return (def.options ?? []).every((o) => ['string', 'number'].includes(unwrap(o)._zod.def.type)) ? 'string' : 'json';
    default:
      return 'json';
  }
}

const toSnake = (key: string): string => key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

function collect(node: ZodNode, path: string[], out: EnvField[]): void {
  const inner = unwrap(node);
  const def = inner._zod.def;
  // An object of optional-only fields (`defaults`: policy keys) has no leaf defaults to set one by one: it is given as JSON.
  const allOptional = def.shape !== undefined && Object.values(def.shape).every((child) => child._zod.def.type === 'optional');
  if (def.type === 'object' && def.shape && !allOptional) {
    for (const [key, child] of Object.entries(def.shape)) collect(child, [...path, key], out);
    return;
  }
  out.push({ path, variable: `WAYPOST_${path.map(toSnake).join('_')}`, kind: leafKind(node) });
}

export const ENV_FIELDS: readonly EnvField[] = (() => {
  const out: EnvField[] = [];
  collect(configSchema as unknown as z.ZodType as unknown as ZodNode, [], out);
  return out;
})();

function convert(field: EnvField, raw: string): unknown {
  const text = raw.trim();
  switch (field.kind) {
    case 'string':
      return raw;
    case 'number': {
      const value = Number(text);
      if (text === '' || !Number.isFinite(value)) {
        throw configError(field.path.join('.'), `expected a number in ${field.variable}, got "${raw}"`);
      }
      return value;
    }
    case 'boolean':
      if (/^(true|1|yes|on)$/i.test(text)) return true;
      if (/^(false|0|no|off)$/i.test(text)) return false;
      throw configError(field.path.join('.'), `expected true or false in ${field.variable}, got "${raw}"`);
    case 'list':
      if (text.startsWith('[')) return parseJson(field, text);
      return text === '' ? [] : text.split(',').map((item) => item.trim());
    case 'json':
      return /^[[{]/.test(text) ? parseJson(field, text) : raw;
  }
}

function parseJson(field: EnvField, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw configError(field.path.join('.'), `${field.variable} is not valid JSON`);
  }
}

/** Config fragment from the environment, plus where each value came from. */
export function readEnv(env: NodeJS.ProcessEnv): { values: Record<string, unknown>; origins: Map<string, string> } {
  const values: Record<string, unknown> = {};
  const origins = new Map<string, string>();
  for (const field of ENV_FIELDS) {
    const raw = env[field.variable];
    if (raw === undefined) continue;
    setPath(values, field.path, convert(field, raw));
    origins.set(field.path.join('.'), `environment variable ${field.variable}`);
  }
  return { values, origins };
}

export function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}
