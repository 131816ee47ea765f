/**
 * A Consul service definition (`PUT /v1/agent/service/register` body) → a
 * registration input and check definitions, validated. Pure: no I/O, no clock.
 *
 * - `Name` and `ID` are mapped by names.ts (originals kept as `consul.name` and
 *   `consul.id`); `ID` defaults to `Name`.
 * - Without `Address` the caller's address is registered (Consul would use its node's).
 * - `Weights.Passing` is the weight; `Weights.Warning` applies while a check warns.
 * - `Meta` keys under `consul.` are ours and dropped.
 * - Checks: TTL, or HTTP/TCP with Interval (Timeout, Method and
 *   DeregisterCriticalServiceAfter optional); each starts critical unless `Status` says.
 * Field names match without regard to case, as Go's JSON decoding (and so Consul) does.
 */
import { invalid } from '../../errors.js';
import { checkProtocol, checkWeight, parseRegistration } from '../../registry/validate.js';
import type { RegistrationInput } from '../../types.js';
import { routesFromConsulTags } from '../../registry/route-spec.js';
import { toInstanceId, toServiceName } from '../names.js';
import { isRecord } from '../shared.js';
import { CHECK_STATUSES, CONSUL_META, type CheckDefinition, type CheckStatus } from './model.js';

export interface ConsulRegistration {
  readonly input: RegistrationInput;
  /** The service ID as the client knows it (before mapping). */
  readonly consulId: string;
  readonly checks: readonly CheckDefinition[];
  /** Each check's starting status, in the order of `checks`. */
  readonly initial: readonly CheckStatus[];
}

export interface RegistrationDefaults {
  /** The caller's address: the host when the body has no `Address`. */
  readonly remoteAddress: string | undefined;
  /** The lease of every Consul-registered record, in seconds. */
  readonly leaseSeconds: number;
}

export function parseConsulRegistration(body: unknown, defaults: RegistrationDefaults): ConsulRegistration {
  if (!isRecord(body)) throw invalid('', 'Request decode failed: body must be a JSON object');
  const name = field(body, 'Name');
  if (typeof name !== 'string' || name === '') throw invalid('Name', 'Missing service name');
  const service = toServiceName(name, 'Name');
  const rawId = field(body, 'ID');
  const consulId = typeof rawId === 'string' && rawId !== '' ? rawId : name;
  const id = toInstanceId(consulId, 'ID');

  const metadata: Record<string, string> = {};
  const meta = field(body, 'Meta');
  if (meta !== undefined && meta !== null) {
    if (!isRecord(meta)) throw invalid('Meta', 'Meta must be an object of strings');
    // Values are checked by parseRegistration (strings, sizes).
    for (const [key, value] of Object.entries(meta)) if (!key.startsWith('consul.')) metadata[key] = value as string;
  }
  if (name !== service) metadata[CONSUL_META.name] = name;
  if (consulId !== id) metadata[CONSUL_META.id] = consulId;

  const weights = field(body, 'Weights');
  let weight: number | undefined;
  if (isRecord(weights)) {
    const passing = field(weights, 'Passing');
    const warning = field(weights, 'Warning');
    if (passing !== undefined) weight = checkWeight(passing, 'Weights.Passing');
    if (warning !== undefined) metadata[CONSUL_META.warningWeight] = String(checkWeight(warning, 'Weights.Warning'));
  }
  const address = field(body, 'Address');
  const tags = field(body, 'Tags');
  // What the instance speaks (http1 | h2c | h2), as a Consul service declares it in its Meta.
  const protocol = metadata.protocol === undefined ? undefined : checkProtocol(metadata.protocol, 'Meta.protocol');
  // fabio's convention: `urlprefix-[host]/path [strip=/path]` tags are routes the service declares.
  const routes = Array.isArray(tags) ? routesFromConsulTags(tags) : [];
  const input = parseRegistration(
    {
      id,
      host: typeof address === 'string' && address !== '' ? address : defaults.remoteAddress,
      port: field(body, 'Port'),
      metadata,
      ttl: defaults.leaseSeconds,
      ...(tags === undefined || tags === null ? {} : { tags }),
      ...(weight === undefined ? {} : { weight }),
      ...(protocol === undefined ? {} : { protocol }),
      ...(routes.length === 0 ? {} : { routes }),
    },
    service,
  );
  return { input, consulId, ...parseChecks(body, consulId) };
}

/** Go's JSON decoding (and so Consul) matches field names without regard to case. */
export function field(body: Record<string, unknown>, name: string): unknown {
  if (name in body) return body[name];
  const lower = name.toLowerCase();
  for (const key of Object.keys(body)) if (key.toLowerCase() === lower) return body[key];
  return undefined;
}

/** `Check` or `Checks` of a registration; each check's starting status. */
function parseChecks(body: Record<string, unknown>, consulId: string): { checks: CheckDefinition[]; initial: CheckStatus[] } {
  const single = present(field(body, 'Check'));
  const many = present(field(body, 'Checks'));
  const raws: unknown[] = [];
  if (single !== undefined) raws.push(single);
  if (Array.isArray(many)) raws.push(...many);
  else if (many !== undefined) throw invalid('Checks', 'Checks must be an array');
  const checks: CheckDefinition[] = [];
  const initial: CheckStatus[] = [];
  raws.forEach((raw, i) => {
    const path = single !== undefined && i === 0 ? 'Check' : `Checks[${i - (single !== undefined ? 1 : 0)}]`;
    if (!isRecord(raw)) throw invalid(path, `${path} must be an object`);
    const givenId = field(raw, 'CheckID') ?? field(raw, 'ID');
    const id = typeof givenId === 'string' && givenId !== '' ? givenId : raws.length === 1 ? `service:${consulId}` : `service:${consulId}:${i + 1}`;
    const givenName = field(raw, 'Name');
    const name = typeof givenName === 'string' && givenName !== '' ? givenName : `Service '${consulId}' check`;
    let definition = checkKind(raw, path, id, name);
    const dcsa = field(raw, 'DeregisterCriticalServiceAfter');
    if (dcsa !== undefined && dcsa !== null && dcsa !== '') {
      definition = { ...definition, deregisterAfterMs: duration(dcsa, `${path}.DeregisterCriticalServiceAfter`) };
    }
    const status = field(raw, 'Status');
    if (status !== undefined && status !== '' && !CHECK_STATUSES.includes(status as CheckStatus)) {
      throw invalid(`${path}.Status`, `${path}.Status must be passing, warning or critical`);
    }
    checks.push(definition);
    initial.push(typeof status === 'string' && status !== '' ? (status as CheckStatus) : 'critical');
  });
  if (new Set(checks.map((c) => c.id)).size !== checks.length) throw invalid('Checks', 'check IDs must be unique');
  return { checks, initial };
}

/** The TTL, HTTP or TCP part of one check. */
function checkKind(raw: Record<string, unknown>, path: string, id: string, name: string): CheckDefinition {
  const ttl = nonEmptyString(field(raw, 'TTL'));
  if (ttl !== undefined) return { id, name, type: 'ttl', ttlMs: positive(duration(ttl, `${path}.TTL`), `${path}.TTL`) };
  const httpTarget = nonEmptyString(field(raw, 'HTTP'));
  const tcpTarget = nonEmptyString(field(raw, 'TCP'));
  if (httpTarget === undefined && tcpTarget === undefined) {
    throw invalid(path, `${path}: only TTL, HTTP + Interval and TCP + Interval checks are supported`);
  }
  const intervalMs = positive(duration(field(raw, 'Interval'), `${path}.Interval`), `${path}.Interval`);
  const timeoutRaw = field(raw, 'Timeout');
  const timeoutMs = timeoutRaw === undefined || timeoutRaw === '' ? undefined : duration(timeoutRaw, `${path}.Timeout`);
  const timing = { intervalMs, ...(timeoutMs ? { timeoutMs } : {}) };
  if (httpTarget === undefined) {
    splitHostPort(tcpTarget!);
    return { id, name, type: 'tcp', target: tcpTarget!, ...timing };
  }
  let url: URL;
  try {
    url = new URL(httpTarget);
  } catch {
    throw invalid(`${path}.HTTP`, `${path}.HTTP must be an http:// URL`);
  }
  if (url.protocol !== 'http:') throw invalid(`${path}.HTTP`, `${path}.HTTP must be an http:// URL (https checks are not supported)`);
  const method = nonEmptyString(field(raw, 'Method'));
  return { id, name, type: 'http', target: httpTarget, ...timing, ...(method ? { method } : {}) };
}

function present(value: unknown): unknown {
  return value === null ? undefined : value;
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function duration(value: unknown, path: string): number {
  const ms = parseGoDuration(value);
  if (ms === undefined) throw invalid(path, `${path} must be a duration like 10s or 1m; got ${JSON.stringify(value)}`);
  return ms;
}

function positive(ms: number, path: string): number {
  if (ms < 1) throw invalid(path, `${path} must be positive`);
  return ms;
}

export function splitHostPort(target: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(target);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port < 1 || port > 65_535) throw invalid('Check.TCP', `TCP must be host:port; got ${JSON.stringify(target.slice(0, 80))}`);
  return { host: match[1]!, port };
}

const GO_DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's duration syntax as Consul takes it (`10s`, `1m30s`, `500ms`); milliseconds, or undefined. */
export function parseGoDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value / 1e6 : undefined;
  if (typeof value !== 'string' || !/^((\d+(\.\d+)?)(ns|us|µs|ms|s|m|h))+$/.test(value)) return undefined;
  let total = 0;
  for (const match of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(match[1]) * GO_DURATION_UNITS[match[2]!]!;
  return total;
}
