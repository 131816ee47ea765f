/**
 * Flag parsing shared by `waypost register` and `waypost registrar`: each bad
 * value becomes a config error (exit 2) whose one line names the flag.
 */
import { parseHostPort } from '../net/address.js';
import { MAX_DURATION_MS, MAX_DURATION_TEXT, parseDuration } from '../config/duration.js';
import { configError, describeError, type WaypostError } from '../errors.js';
import { loadConfig } from '../config/load.js';
import { createStore } from '../registry/create-store.js';
import type { Logger } from '../log.js';
import { RegistryClient } from '../client/registry-client.js';
import type { RegistrationTarget } from '../client/target.js';
import { StoreTarget } from './store-target.js';

/** Where the admin API listens by default (DESIGN §3). */
export const DEFAULT_REGISTRY_URL = 'http://127.0.0.1:9901';

export function parseAppAddress(text: string | undefined, flag = '--address'): { host: string; port: number } {
  if (text === undefined) throw configError(flag, 'is required (HOST:PORT of the app, e.g. 10.0.0.5:8080)');
  const parsed = parseHostPort(text);
  if (typeof parsed === 'string') throw configError(flag, parsed);
  if (parsed.port === 0) throw configError(flag, `port must be 1-65535, got 0`);
  if (parsed.host === '0.0.0.0' || parsed.host === '::' || text.trim().startsWith(':')) {
    throw configError(flag, `"${text}" is not an address a proxy can reach; give the app's IP or DNS name`);
  }
  return parsed;
}

export function parseIntegerFlag(text: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text.trim()) || Number(text) < min || Number(text) > max) {
    throw configError(flag, `must be an integer from ${min} to ${max}, got "${text}"`);
  }
  return Number(text);
}

export function parseDurationFlag(text: string | undefined, flag: string, fallbackMs: number, minMs = 0): number {
  if (text === undefined) return fallbackMs;
  const ms = parseDuration(text);
  if (ms === undefined) throw configError(flag, `must be a duration like 500ms, 5s or 2m, got "${text}"`);
  if (ms < minMs) throw configError(flag, `must be at least ${minMs} ms, got "${text}"`);
  if (ms > MAX_DURATION_MS) throw configError(flag, `must be at most ${MAX_DURATION_TEXT}, got "${text}"`);
  return ms;
}

/** One line naming both flags: each selects the registry, so together they are ambiguous. */
export const registryFlagConflict = (): WaypostError => configError('--redis', 'give either --registry URL or --redis URL, not both');

export interface TargetFlags {
  registry?: string;
  redis?: string;
  token?: string;
}

/**
 * The registration target the flags select: the admin API (`--registry`, the
 * default) or Redis directly (`--redis`). Connects lazily: nothing fails here
 * because the registry is down.
 */
export function targetFromFlags(flags: TargetFlags, logger: Logger): { target: RegistrationTarget; describe: string } {
  if (flags.registry !== undefined && flags.redis !== undefined) {
    throw registryFlagConflict();
  }
  if (flags.redis !== undefined) {
    if (flags.token !== undefined) throw configError('--token', 'only applies with --registry (the admin API)');
    const config = loadConfig({ env: process.env, flags: [{ path: ['redis', 'url'], flag: '--redis', value: flags.redis }] });
    let store;
    try {
      store = createStore(config, { logger });
    } catch (err) {
      throw configError('--redis', describeError(err));
    }
    return { target: new StoreTarget(store, config.admin.allowedCidrs), describe: 'redis' };
  }
  const url = flags.registry ?? DEFAULT_REGISTRY_URL;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw configError('--registry', `must be an http(s) URL of the admin API, got "${url}"`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw configError('--registry', `must be an http(s) URL of the admin API, got "${url}"`);
  }
  const token = flags.token ?? process.env.WAYPOST_ADMIN_TOKEN;
  return { target: new RegistryClient({ url, ...(token ? { token } : {}) }), describe: url };
}

