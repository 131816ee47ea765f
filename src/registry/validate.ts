/**
 * Checks for everything a caller can send to the registry. Each failure becomes a
 * WaypostError(invalid) whose `field` is the JSON path and whose message quotes
 * the bad value, so `{"error","message","field"}` tells the caller what to fix.
 */
import net from 'node:net';
import { invalid } from '../errors.js';
import { canonicalHost, canonicalIp } from '../net/address.js';
import { checkDeclaredRoutes } from './routes.js';
import {
  INSTANCE_ID_PATTERN,
  INSTANCE_PROTOCOLS,
  INSTANCE_STATUSES,
  SERVICE_NAME_PATTERN,
  type InstanceProtocol,
  type InstanceStatus,
  type RegistrationInput,
} from '../types.js';

const HOSTNAME_PATTERN = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export const LIMITS = {
  tags: 32,
  tagLength: 64,
  metadataKeys: 64,
  metadataKeyLength: 128,
  metadataValueLength: 512,
  /** Serialized metadata as a whole. */
  metadataBytes: 8 * 1024,
  zoneLength: 64,
  /** Objects and arrays nested in any JSON a client sends (the body itself is level 1). */
  jsonDepth: 32,
} as const;

export const DEFAULT_WEIGHT = 100;
export const DEFAULT_TTL_SECONDS = 30;

/**
 * The bad value for an error message, cut to 80 characters. A value nested
 * deeper than LIMITS.jsonDepth is described, not serialised: JSON.stringify
 * recurses and would overflow the stack on a value thousands of levels deep.
 */
export const quote = (value: unknown): string => {
  if (isNestedDeeperThan(value, LIMITS.jsonDepth)) {
    return `${Array.isArray(value) ? 'an array' : 'an object'} nested deeper than ${LIMITS.jsonDepth} levels`;
  }
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
};

/**
 * Whether objects and arrays nest more than `limit` levels in `value` (a bare
 * object is one level). Iterative, with an explicit stack, so a value of any
 * depth is measured without recursion; stops at the first level over the limit.
 */
export function isNestedDeeperThan(value: unknown, limit: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const stack: Array<{ node: object; depth: number }> = [{ node: value, depth: 1 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (depth > limit) return true;
    for (const child of Object.values(node)) {
      if (typeof child === 'object' && child !== null) stack.push({ node: child, depth: depth + 1 });
    }
  }
  return false;
}

export function checkServiceName(value: unknown, field = 'service'): string {
  if (typeof value !== 'string' || !SERVICE_NAME_PATTERN.test(value)) {
    throw invalid(
      field,
      `${field} must be 1-63 lower-case letters, digits or "-", starting and ending with a letter or digit; got ${quote(value)}`,
    );
  }
  return value;
}

export function checkInstanceId(value: unknown, field = 'id'): string {
  if (typeof value !== 'string' || !INSTANCE_ID_PATTERN.test(value)) {
    throw invalid(field, `${field} must be 1-128 of A-Z a-z 0-9 . _ : -; got ${quote(value)}`);
  }
  return value;
}

export function checkStatus(value: unknown, field = 'status'): InstanceStatus {
  if (typeof value !== 'string' || !(INSTANCE_STATUSES as readonly string[]).includes(value)) {
    throw invalid(field, `${field} must be one of ${INSTANCE_STATUSES.join(', ')}; got ${quote(value)}`);
  }
  return value as InstanceStatus;
}

export function checkWeight(value: unknown, field = 'weight'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 10_000) {
    throw invalid(field, `${field} must be an integer from 0 to 10000; got ${quote(value)}`);
  }
  return value;
}

const REGISTRATION_FIELDS = new Set(['id', 'service', 'host', 'port', 'weight', 'zone', 'tags', 'metadata', 'status', 'protocol', 'ttl', 'routes']);

/** Read-only fields a client may echo back from a GET; they are ignored, not rejected. */
const SERVER_FIELDS = new Set(['registeredAt', 'leaseExpiresAt', 'health', 'revision']);

/**
 * Validate a registration body for `service` (from the URL). A `service` field in
 * the body, if present, must agree with the URL.
 */
export function parseRegistration(body: unknown, service: string): RegistrationInput {
  checkServiceName(service);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid('', 'request body must be a JSON object with at least "host" and "port"');
  }
  for (const key of Object.keys(body)) {
    if (!REGISTRATION_FIELDS.has(key) && !SERVER_FIELDS.has(key)) {
      throw invalid(key, `unknown field "${key}"`);
    }
  }
  const raw = body as Record<string, unknown>;
  if (raw.service !== undefined && raw.service !== service) {
    throw invalid('service', `service in the body (${quote(raw.service)}) does not match the URL ("${service}")`);
  }

  const input: {
    -readonly [K in keyof RegistrationInput]: RegistrationInput[K];
  } = { service, host: checkHost(raw.host), port: checkPort(raw.port) };
  if (raw.id !== undefined) input.id = checkInstanceId(raw.id);
  if (raw.weight !== undefined) input.weight = checkWeight(raw.weight);
  if (raw.zone !== undefined) input.zone = checkZone(raw.zone);
  if (raw.tags !== undefined) input.tags = checkTags(raw.tags);
  if (raw.metadata !== undefined) input.metadata = checkMetadata(raw.metadata);
  if (raw.status !== undefined) input.status = checkStatus(raw.status);
  if (raw.protocol !== undefined) input.protocol = checkProtocol(raw.protocol);
  if (raw.ttl !== undefined) input.ttl = checkTtl(raw.ttl);
  if (raw.routes !== undefined) {
    const routes = checkDeclaredRoutes(raw.routes);
    if (routes.length > 0) input.routes = routes;
  }
  return input;
}

export function checkHost(value: unknown, field = 'host'): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw invalid(field, `${field} is required: an IP address or DNS name; got ${quote(value)}`);
  }
  const bare = value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value;
  if (net.isIP(bare) === 0 && canonicalIp(value) === undefined && !HOSTNAME_PATTERN.test(value)) {
    throw invalid(field, `${field} must be an IP address or DNS name; got ${quote(value)}`);
  }
  // Stored canonical: `2130706433`, `0x7f.1` and `::ffff:7f00:1` are all 127.0.0.1; a name stays a name.
  return canonicalHost(value);
}

export function checkProtocol(value: unknown, field = 'protocol'): InstanceProtocol {
  if (typeof value !== 'string' || !(INSTANCE_PROTOCOLS as readonly string[]).includes(value)) {
    throw invalid(field, `${field} must be one of ${INSTANCE_PROTOCOLS.join(', ')}; got ${quote(value)}`);
  }
  return value as InstanceProtocol;
}

export function checkPort(value: unknown, field = 'port'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65_535) {
    throw invalid(field, `${field} must be an integer from 1 to 65535; got ${quote(value)}`);
  }
  return value;
}

export function checkTtl(value: unknown, field = 'ttl'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 3600) {
    throw invalid(field, `${field} must be an integer number of seconds from 1 to 3600; got ${quote(value)}`);
  }
  return value;
}

function checkZone(value: unknown): string {
  if (typeof value !== 'string' || value.length > LIMITS.zoneLength || !/^[A-Za-z0-9._-]*$/.test(value)) {
    throw invalid('zone', `zone must be up to ${LIMITS.zoneLength} of A-Z a-z 0-9 . _ -; got ${quote(value)}`);
  }
  return value;
}

function checkTags(value: unknown): string[] {
  if (!Array.isArray(value)) throw invalid('tags', `tags must be an array of strings; got ${quote(value)}`);
  if (value.length > LIMITS.tags) throw invalid('tags', `tags may hold at most ${LIMITS.tags} entries; got ${value.length}`);
  return value.map((tag, i) => {
    if (typeof tag !== 'string' || tag.length === 0 || tag.length > LIMITS.tagLength || /[\u0000-\u001f]/.test(tag)) {
      throw invalid(`tags[${i}]`, `tags[${i}] must be a string of 1-${LIMITS.tagLength} printable characters; got ${quote(tag)}`);
    }
    return tag;
  });
}

function checkMetadata(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid('metadata', `metadata must be an object of string values; got ${quote(value)}`);
  }
  const entries = Object.entries(value);
  if (entries.length > LIMITS.metadataKeys) {
    throw invalid('metadata', `metadata may hold at most ${LIMITS.metadataKeys} keys; got ${entries.length}`);
  }
  const out: Record<string, string> = Object.create(null);
  for (const [key, v] of entries) {
    if (key.length === 0 || key.length > LIMITS.metadataKeyLength || key === '__proto__') {
      throw invalid(`metadata.${key}`, `metadata keys must be 1-${LIMITS.metadataKeyLength} characters; got ${quote(key)}`);
    }
    if (typeof v !== 'string' || v.length > LIMITS.metadataValueLength) {
      throw invalid(`metadata.${key}`, `metadata.${key} must be a string of at most ${LIMITS.metadataValueLength} characters; got ${quote(v)}`);
    }
    out[key] = v;
  }
  if (Buffer.byteLength(JSON.stringify(out)) > LIMITS.metadataBytes) {
    throw invalid('metadata', `metadata must serialize to at most ${LIMITS.metadataBytes} bytes`);
  }
  return { ...out };
}

/** Heartbeat body: empty, or `{"weight": N}`. */
export function parseHeartbeat(body: unknown): { weight?: number } {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw invalid('', 'heartbeat body must be empty or {"weight": N}');
  for (const key of Object.keys(body)) if (key !== 'weight') throw invalid(key, `unknown field "${key}"`);
  const weight = (body as { weight?: unknown }).weight;
  return weight === undefined ? {} : { weight: checkWeight(weight) };
}

/** Status body: `{"status": "DRAINING"}`. */
export function parseStatusBody(body: unknown): InstanceStatus {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid('status', 'body must be {"status": "UP" | "DRAINING" | "OUT_OF_SERVICE"}');
  }
  for (const key of Object.keys(body)) if (key !== 'status') throw invalid(key, `unknown field "${key}"`);
  return checkStatus((body as { status?: unknown }).status);
}
