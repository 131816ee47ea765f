import { describe, expect, it } from 'vitest';
import { parseConsulRegistration, parseGoDuration, type RegistrationDefaults } from '../../../src/compat/consul/definitions.js';
import { refusalOf } from './refusal.js';

const defaults: RegistrationDefaults = { remoteAddress: '10.1.2.3', leaseSeconds: 30 };

function register(body: Record<string, unknown>) {
  return parseConsulRegistration({ Name: 'billing', Address: '10.0.0.5', Port: 9100, ...body }, defaults);
}

describe('a Consul service definition becomes a registration', () => {
  it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    ['the name is the service and, without an ID, the instance id', {}, { service: 'billing', id: 'billing', host: '10.0.0.5', port: 9100, ttl: 30 }],
    ['a free-text name and ID are mapped to Waypost names', { Name: 'Reports_API', ID: 'reports 1' }, { service: 'reports-api', id: 'reports-1' }],
    ['without an Address the caller is registered', { Address: '' }, { host: '10.1.2.3' }],
    ['Weights.Passing is the weight', { Weights: { Passing: 7, Warning: 2 } }, { weight: 7 }],
    ['tags are kept', { Tags: ['v1', 'blue'] }, { tags: ['v1', 'blue'] }],
    ['Meta.protocol says what the instance speaks (a gRPC service: h2c)', { Meta: { protocol: 'h2c' } }, { protocol: 'h2c' }],
  ])('%s', (_name, body, expected) => {
    expect(register(body).input).toMatchObject(expected);
  });

  it('refuses a Meta.protocol it does not know, naming the field', () => {
    expect(refusalOf(() => register({ Meta: { protocol: 'spdy' } }))).toMatchObject({ field: 'Meta.protocol' });
  });

  it('matches field names without regard to case, as Go does', () => {
    const { input } = parseConsulRegistration({ name: 'Ledger', PORT: 9200, address: '10.0.0.9', weights: { passing: 3 } }, defaults);
    expect(input).toMatchObject({ service: 'ledger', port: 9200, host: '10.0.0.9', weight: 3 });
  });

  it('keeps the original name and ID, the warning weight and user Meta, and drops Meta keys under consul.', () => {
    const { input, consulId } = register({ Name: 'Reports_API', ID: 'reports 1', Weights: { Warning: 2 }, Meta: { version: '1.0', 'consul.id': 'forged' } });
    expect(consulId).toBe('reports 1');
    expect(input.metadata).toEqual({ version: '1.0', 'consul.name': 'Reports_API', 'consul.id': 'reports 1', 'consul.weights.warning': '2' });
  });

  it('has no checks and no consul.* metadata when the definition has none and the names are already Waypost names', () => {
    const { input, checks, initial } = register({});
    expect(checks).toEqual([]);
    expect(initial).toEqual([]);
    expect(input.metadata).toEqual({});
  });
});

describe('the checks of a Consul service definition', () => {
  it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    ['a TTL check', { TTL: '15s' }, { id: 'service:billing', name: "Service 'billing' check", type: 'ttl', ttlMs: 15_000 }],
    ['an HTTP check with interval, timeout and method', { HTTP: 'http://10.0.0.5:9100/health', Interval: '10s', Timeout: '1s', Method: 'HEAD' }, { type: 'http', target: 'http://10.0.0.5:9100/health', intervalMs: 10_000, timeoutMs: 1000, method: 'HEAD' }],
    ['a TCP check', { TCP: '10.0.0.5:9100', Interval: '5s' }, { type: 'tcp', target: '10.0.0.5:9100', intervalMs: 5000 }],
    ['a check with its own ID and name', { CheckID: 'db', Name: 'database', TTL: '1m' }, { id: 'db', name: 'database', ttlMs: 60_000 }],
    ['DeregisterCriticalServiceAfter', { TTL: '10s', DeregisterCriticalServiceAfter: '1m30s' }, { deregisterAfterMs: 90_000 }],
  ])('%s', (_name, check, expected) => {
    const { checks } = register({ Check: check });
    expect(checks).toHaveLength(1);
    expect(checks[0]).toMatchObject(expected);
  });

  it('starts each check critical unless its Status says otherwise', () => {
    const { initial } = register({ Checks: [{ TTL: '10s' }, { TTL: '10s', Status: 'passing' }] });
    expect(initial).toEqual(['critical', 'passing']);
  });

  it('numbers the default IDs of several checks, Check first, then Checks', () => {
    const { checks } = register({ Check: { TTL: '10s' }, Checks: [{ TTL: '20s' }] });
    expect(checks.map((check) => check.id)).toEqual(['service:billing:1', 'service:billing:2']);
  });
});

describe('a Consul service definition that is refused names the field', () => {
  it.each<[string, unknown, string, RegExp]>([
    ['a body that is not an object', ['x'], '', /body must be a JSON object/],
    ['a definition without a name', { Port: 80 }, 'Name', /Missing service name/],
    ['a name with no letter or digit', { Name: '__', Port: 80 }, 'Name', /no letter or digit/],
    ['Meta that is not an object', { Name: 'a', Port: 80, Meta: 'x' }, 'Meta', /Meta must be an object/],
    ['a port out of range', { Name: 'a', Port: 70000 }, 'port', /1 to 65535/],
    ['a negative passing weight', { Name: 'a', Port: 80, Weights: { Passing: -1 } }, 'Weights.Passing', /Weights\.Passing/],
    ['Checks that are not an array', { Name: 'a', Port: 80, Checks: {} }, 'Checks', /Checks must be an array/],
    ['a check that is not an object', { Name: 'a', Port: 80, Check: 'ttl' }, 'Check', /Check must be an object/],
    ['a script check', { Name: 'a', Port: 80, Check: { Args: ['/bin/true'], Interval: '10s' } }, 'Check', /only TTL, HTTP \+ Interval and TCP \+ Interval/],
    ['a TTL that is not a duration', { Name: 'a', Port: 80, Check: { TTL: 'soon' } }, 'Check.TTL', /duration like 10s/],
    ['a zero TTL', { Name: 'a', Port: 80, Check: { TTL: '0s' } }, 'Check.TTL', /must be positive/],
    ['an HTTP check without an interval', { Name: 'a', Port: 80, Check: { HTTP: 'http://h/' } }, 'Check.Interval', /duration/],
    ['an HTTPS check', { Name: 'a', Port: 80, Check: { HTTP: 'https://h/', Interval: '10s' } }, 'Check.HTTP', /https checks are not supported/],
    ['an HTTP check that is not a URL', { Name: 'a', Port: 80, Check: { HTTP: 'h:80/x', Interval: '10s' } }, 'Check.HTTP', /http:\/\/ URL/],
    ['a TCP check without a port', { Name: 'a', Port: 80, Check: { TCP: 'h', Interval: '10s' } }, 'Check.TCP', /host:port/],
    ['a second check with a bad timeout', { Name: 'a', Port: 80, Checks: [{ TTL: '1s' }, { TCP: 'h:1', Interval: '1s', Timeout: 'x' }] }, 'Checks[1].Timeout', /duration/],
    ['a status Consul does not know', { Name: 'a', Port: 80, Check: { TTL: '1s', Status: 'ok' } }, 'Check.Status', /passing, warning or critical/],
    ['two checks with one ID', { Name: 'a', Port: 80, Checks: [{ ID: 'x', TTL: '1s' }, { ID: 'x', TTL: '1s' }] }, 'Checks', /unique/],
  ])('%s', (_name, body, field, message) => {
    const refusal = refusalOf(() => parseConsulRegistration(body, defaults));
    expect(refusal.field).toBe(field);
    expect(refusal.message).toMatch(message);
  });
});

describe("Go's duration syntax", () => {
  it.each<[unknown, number | undefined]>([
    ['10s', 10_000],
    ['1m30s', 90_000],
    ['500ms', 500],
    ['1.5h', 5_400_000],
    ['250us', 0.25],
    [5_000_000_000, 5000],
    ['10', undefined],
    ['-1s', undefined],
    ['', undefined],
    [-5, undefined],
    [null, undefined],
  ])('%j is %j ms', (value, expected) => {
    expect(parseGoDuration(value)).toBe(expected);
  });
});
