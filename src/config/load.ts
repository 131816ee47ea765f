/**
 * Configuration in one pass: file < environment < flags, validated once by the
 * schema, then deep-frozen. Any failure is a WaypostError('config') whose message
 * names the field, the bad value and where it came from (exit code 2).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { configError, describeError } from '../errors.js';
import { readEnv, setPath } from './env.js';
import { describeIssue } from './issues.js';
import { configSchema, type WaypostConfig } from './schema.js';

export interface LoadOptions {
  /** Path of a YAML (or JSON) file. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags, as config paths → raw values. */
  flags?: ReadonlyArray<{ path: readonly string[]; value: unknown; flag: string }>;
}

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Later sources win field by field; arrays are replaced whole. */
function merge(base: Plain, over: Plain): Plain {
  const out: Plain = { ...base };
  for (const [key, value] of Object.entries(over)) {
    out[key] = isPlain(value) && isPlain(out[key]) ? merge(out[key] as Plain, value) : value;
  }
  return out;
}

function leafOrigins(value: unknown, prefix: string[], origin: string, into: Map<string, string>): void {
  if (isPlain(value)) {
    for (const [key, child] of Object.entries(value)) leafOrigins(child, [...prefix, key], origin, into);
  } else {
    into.set(prefix.join('.'), origin);
  }
}

/** The YAML parser is loaded only when there is a config file to read (it is ~8 MiB resident). */
function parseYaml(text: string): unknown {
  const yaml = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return yaml.parse(text, { prettyErrors: true, uniqueKeys: true });
}

function readFile(file: string): Plain {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw configError('config', `cannot read config file ${file}: ${describeError(err)}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    const first = describeError(err).split('\n')[0];
    throw configError('config', `config file ${file} is not valid YAML: ${first}`);
  }
  if (doc === null || doc === undefined) return {};
  if (!isPlain(doc)) throw configError('config', `config file ${file} must hold a mapping of fields at the top level`);
  return doc;
}

const REDIS_SELECTORS = ['url', 'sentinels', 'cluster'] as const;

export function loadConfig(options: LoadOptions = {}): WaypostConfig {
  const origins = new Map<string, string>();
  let raw: Plain = {};

  if (options.file) {
    raw = readFile(options.file);
    leafOrigins(raw, [], `config file ${options.file}`, origins);
  }
  const env = readEnv(options.env ?? {});
  raw = merge(raw, env.values);
  for (const [path, origin] of env.origins) origins.set(path, origin);
  for (const { path, value, flag } of options.flags ?? []) {
    const fragment: Plain = {};
    setPath(fragment, path, value);
    raw = merge(raw, fragment);
    origins.set(path.join('.'), `flag ${flag}`);
  }

  // Naming any Redis address selects the Redis store unless the store is set explicitly.
  const redis = isPlain(raw.redis) ? raw.redis : {};
  const wantsRedis = REDIS_SELECTORS.some((key) => {
    const v = redis[key];
    return Array.isArray(v) ? v.length > 0 : typeof v === 'string' && v !== '';
  });
  const registry = isPlain(raw.registry) ? raw.registry : {};
  if (wantsRedis && registry.store === undefined) raw = merge(raw, { registry: { store: 'redis' } });

  // reportInput: each issue carries the value that failed, for the "got …" of the message.
  const result = configSchema.safeParse(raw, { reportInput: true });
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const path = issue.path.map(String);
    const field = path.join('.') || 'config';
    throw configError(field, `${describeIssue(issue, configSchema)}${originOf(origins, path)}`);
  }
  const config = result.data;
  checkInvariants(config);
  return deepFreeze(config);
}

function originOf(origins: Map<string, string>, path: string[]): string {
  for (let n = path.length; n > 0; n--) {
    const origin = origins.get(path.slice(0, n).join('.'));
    if (origin) return ` (from ${origin})`;
  }
  // An issue on an object (e.g. unknown key) may concern any of its leaves.
  const prefix = path.join('.');
  for (const [key, origin] of origins) if (prefix === '' || key.startsWith(`${prefix}.`)) return ` (from ${origin})`;
  return '';
}

/** Rules that span fields (the schema checks each field alone). */
function checkInvariants(config: WaypostConfig): void {
  const { redis } = config;
  if (config.registry.store === 'redis' && !redis.url && redis.sentinels.length === 0 && redis.cluster.length === 0) {
    throw configError('registry.store', 'store "redis" needs redis.url, redis.sentinels or redis.cluster');
  }
  if (redis.sentinels.length > 0 && !redis.name) {
    throw configError('redis.name', 'the Sentinel master name is required when redis.sentinels is set');
  }
  config.listen.forEach((listener, i) => {
    if (listener.tls && config.tls.certificates.length === 0) {
      throw configError(`listen.${i}.tls`, 'TLS listener needs at least one entry in tls.certificates');
    }
  });
  for (const [service, check] of Object.entries(config.health.active)) {
    const [minStatus, maxStatus] = check.expectStatus;
    if (minStatus > maxStatus) {
      throw configError(`health.active.${service}.expectStatus`, 'the first status must not exceed the second');
    }
    if (check.timeout >= check.interval) {
      throw configError(`health.active.${service}.timeout`, 'must be shorter than interval');
    }
  }
  if (config.health.passive.baseEjection > config.health.passive.maxEjection) {
    throw configError('health.passive.baseEjection', 'must not exceed health.passive.maxEjection');
  }
  const seen = new Set<string>();
  for (const [i, tcp] of config.tcp.entries()) {
    const key = `${tcp.listen.host}:${tcp.listen.port}`;
    if (tcp.listen.port !== 0 && seen.has(key)) throw configError(`tcp.${i}.listen`, `address ${key} is used twice`);
    seen.add(key);
  }
}

/** Freezes a configuration object and everything in it (also for one received from the cluster primary). */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
