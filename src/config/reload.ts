/**
 * What a configuration reload (SIGHUP, `POST /v1/admin/reload`) may change, decided
 * before anything is applied: a field the running process cannot change without a
 * restart refuses the whole reload (409, naming the field), so the process never runs
 * half of one file and half of another. Everything not listed here is applied live
 * (config/waypost.yaml and README "Reloading the configuration" say which is which).
 */
import { formatHostPort } from '../net/address.js';
import { ErrorCodes, WaypostError } from '../errors.js';
import type { WaypostConfig } from './schema.js';

/**
 * Fields read once when the process starts (the registry connection, the admin
 * listener, the worker count, state built around them). Dotted paths; a section
 * covers every field inside it.
 */
export const RESTART_ONLY_FIELDS: readonly string[] = [
  'registry',
  'redis',
  'admin',
  'workers',
  'engine',
  'http1Server',
  'proxyId',
  'compat',
  'zone',
  'panicThreshold',
  'slowStart',
  'trustedProxies',
  'drainTimeout',
  'logLevel',
  'limits.maxHeaderBytes',
  'limits.maxBodyBytes',
  'limits.retryBufferBytes',
  'limits.headersTimeout',
  'limits.http2',
  'health.passive.share',
  // The tracer provider and its exporter are built once, with the listeners' data path.
  'tracing',
];

/** Throws WaypostError('conflict') naming the first restart-only field `next` changes. */
export function refuseRestartOnlyChanges(current: WaypostConfig, next: WaypostConfig): void {
  for (const field of RESTART_ONLY_FIELDS) {
    const path = field.split('.');
    const changed = firstDifference(valueAt(current, path), valueAt(next, path), field);
    if (changed !== undefined) throw restartNeeded(changed);
  }
  // Passive detection is wired into the listeners only when it is on at start.
  if ((current.health.passive.consecutiveFailures > 0) !== (next.health.passive.consecutiveFailures > 0)) {
    throw restartNeeded('health.passive.consecutiveFailures', 'cannot turn passive health checking on or off on reload (0 = off)');
  }
  // Access-log lines are only built when the log is on; its target (stdout or a file) may change.
  if ((current.accessLog === 'off') !== (next.accessLog === 'off')) {
    throw restartNeeded('accessLog', 'cannot turn the access log on or off on reload');
  }
}

function restartNeeded(field: string, why = 'cannot change on reload'): WaypostError {
  return new WaypostError(ErrorCodes.CONFLICT, `${field} ${why}; restart the proxy to change it`, { field });
}

/** A summary of what a reload changes, for the log line and the reload API's answer. */
export interface ConfigChanges {
  /** Top-level fields whose value differs, in schema order (`routes`, `tls`, …). */
  readonly changed: readonly string[];
  readonly listeners: { readonly added: readonly string[]; readonly removed: readonly string[] };
  readonly tcp: { readonly added: readonly string[]; readonly removed: readonly string[] };
}

export function describeChanges(current: WaypostConfig, next: WaypostConfig): ConfigChanges {
  const changed = Object.keys(next).filter(
    (key) => JSON.stringify(current[key as keyof WaypostConfig]) !== JSON.stringify(next[key as keyof WaypostConfig]),
  );
  return {
    changed,
    listeners: keyedDiff(current.listen, next.listen, listenerKey, (l) => `${formatHostPort(l.address)}${l.tls ? ' (tls)' : ''}`),
    tcp: keyedDiff(current.tcp, next.tcp, tcpListenerKey, (l) => formatHostPort(l.listen)),
  };
}

/** Identity of an HTTP listener: a listener whose every field is unchanged is left alone on reload. */
export const listenerKey = (listener: WaypostConfig['listen'][number]): string => JSON.stringify(listener);
export const tcpListenerKey = (listener: WaypostConfig['tcp'][number]): string => JSON.stringify(listener);

function keyedDiff<T>(before: readonly T[], after: readonly T[], key: (item: T) => string, label: (item: T) => string) {
  const old = new Set(before.map(key));
  const now = new Set(after.map(key));
  return {
    added: after.filter((item) => !old.has(key(item))).map(label),
    removed: before.filter((item) => !now.has(key(item))).map(label),
  };
}

function valueAt(root: unknown, path: readonly string[]): unknown {
  let value = root;
  for (const key of path) value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  return value;
}

/** The dotted path of the first leaf that differs (`registry.store`), or undefined when equal. */
function firstDifference(a: unknown, b: unknown, path: string): string | undefined {
  if (Object.is(a, b)) return undefined;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return path;
  if (Array.isArray(a) && a.length !== (b as unknown[]).length) return path;
  // A listen address is one field in the file (`HOST:PORT`), normalised to {host, port}.
  if (isHostPort(a) || isHostPort(b)) return JSON.stringify(a) === JSON.stringify(b) ? undefined : path;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) {
    const found = firstDifference((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], `${path}.${key}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

function isHostPort(value: object): boolean {
  const keys = Object.keys(value);
  return keys.length === 2 && keys.includes('host') && keys.includes('port');
}
