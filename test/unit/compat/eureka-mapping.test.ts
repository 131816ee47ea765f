import { describe, expect, it } from 'vitest';
import {
  appsHashCode,
  eurekaStatusOf,
  parseEurekaRegistration,
  sameForEureka,
  toEurekaInstance,
} from '../../../src/compat/eureka/mapping.js';
import type { InstanceRecord, RegistrationInput } from '../../../src/types.js';
import { refusalOf } from './refusal.js';

/** A stored record as the store would return it for `input`. */
function stored(input: RegistrationInput): InstanceRecord {
  return {
    id: input.id!,
    service: input.service,
    host: input.host,
    port: input.port,
    weight: input.weight ?? 100,
    zone: input.zone ?? '',
    tags: input.tags ?? [],
    metadata: input.metadata ?? {},
    status: input.status ?? 'UP',
    protocol: input.protocol ?? 'http1',
    ttl: input.ttl ?? 30,
    registeredAt: '2026-01-01T00:00:00.000Z',
    leaseExpiresAt: '2026-01-01T00:01:30.000Z',
  };
}

function instance(fields: Record<string, unknown>): unknown {
  return { instance: { hostName: 'host-a', ipAddr: '10.0.0.5', port: { $: 8080, '@enabled': 'true' }, ...fields } };
}

describe('a Eureka instance document becomes a registration', () => {
  it.each<[string, Record<string, unknown>, string, Partial<RegistrationInput>]>([
    ['the app name maps to a lower-case service and the IP is the host', {}, 'ORDER_SERVICE', { service: 'order-service', host: '10.0.0.5', port: 8080, status: 'UP', ttl: 90 }],
    ['the instance id is instanceId when given', { instanceId: 'host-a:order:8080' }, 'ORDERS', { id: 'host-a:order:8080' }],
    ['the instance id falls back to the host name', {}, 'ORDERS', { id: 'host-a' }],
    ['a host name is the host when ipAddr is not an IP address', { ipAddr: 'not-an-ip' }, 'ORDERS', { host: 'host-a' }],
    ['a port given as a string is a number', { port: '9090' }, 'ORDERS', { port: 9090 }],
    ['a disabled port gives way to the enabled secure port', { port: { $: 8080, '@enabled': 'false' }, securePort: { $: 8443, '@enabled': 'true' } }, 'ORDERS', { port: 8443 }],
    ['STARTING takes no traffic', { status: 'STARTING' }, 'ORDERS', { status: 'OUT_OF_SERVICE' }],
    ['the lease duration is the ttl', { leaseInfo: { durationInSecs: 45 } }, 'ORDERS', { ttl: 45 }],
    ['the availability zone is the zone', { dataCenterInfo: { name: 'Amazon', metadata: { 'availability-zone': 'eu-1a' } } }, 'ORDERS', { zone: 'eu-1a' }],
    ['metadata.protocol says what the instance speaks', { metadata: { protocol: 'h2c' } }, 'ORDERS', { protocol: 'h2c' }],
  ])('%s', (_name, fields, app, expected) => {
    expect(parseEurekaRegistration(instance(fields), app)).toMatchObject(expected);
  });

  it('keeps the original spelling and what answers must give back under eureka.* metadata', () => {
    const input = parseEurekaRegistration(instance({ app: 'Order_Service', status: 'DOWN', vipAddress: 'orders', metadata: { build: 42 } }), 'ORDER_SERVICE');
    expect(input.metadata).toMatchObject({
      'eureka.app': 'Order_Service',
      'eureka.instanceId': 'host-a',
      'eureka.status': 'DOWN',
      'eureka.hostName': 'host-a',
      'eureka.vipAddress': 'orders',
      build: '42',
    });
  });

  it('drops metadata keys it owns and the Java class marker', () => {
    const input = parseEurekaRegistration(instance({ metadata: { '@class': 'java.util.Map', 'eureka.status': 'UP', version: '1' } }), 'ORDERS');
    expect(input.metadata).not.toHaveProperty('@class');
    expect(input.metadata!['eureka.status']).toBe('UP');
    expect(input.metadata!.version).toBe('1');
  });
});

describe('a Eureka instance document that is refused names the field', () => {
  it.each<[string, unknown, string, string]>([
    ['a body without instance', { hostName: 'x' }, 'ORDERS', 'instance'],
    ['an instance without hostName or ipAddr', { instance: { port: 80 } }, 'ORDERS', 'instance.hostName'],
    ['an instance without a port', { instance: { hostName: 'h', ipAddr: '10.0.0.1' } }, 'ORDERS', 'instance.port'],
    ['a port above 65535', instance({ port: { $: 70000 } }), 'ORDERS', 'instance.port'],
    ['a status Eureka does not know', instance({ status: 'SLEEPING' }), 'ORDERS', 'instance.status'],
    ['metadata that is not an object', instance({ metadata: ['a'] }), 'ORDERS', 'instance.metadata'],
    ['a host name that is not a string', { instance: { hostName: 5, port: 80 } }, 'ORDERS', 'instance.hostName'],
    ['an app name with no letter or digit', instance({}), '___', 'app'],
  ])('%s', (_name, body, app, field) => {
    expect(refusalOf(() => parseEurekaRegistration(body, app)).field).toBe(field);
  });
});

describe('a record becomes a Eureka instance document', () => {
  it('gives back what a Eureka client registered', () => {
    const input = parseEurekaRegistration(
      instance({ app: 'Order_Service', instanceId: 'a:1', vipAddress: 'orders', metadata: { build: '42' }, leaseInfo: { durationInSecs: 60, renewalIntervalInSecs: 20 } }),
      'ORDER_SERVICE',
    );
    expect(toEurekaInstance(stored(input))).toMatchObject({
      instanceId: 'a:1',
      app: 'ORDER_SERVICE',
      hostName: 'host-a',
      ipAddr: '10.0.0.5',
      status: 'UP',
      overriddenStatus: 'UNKNOWN',
      port: { $: 8080, '@enabled': 'true' },
      vipAddress: 'orders',
      metadata: { build: '42' },
      leaseInfo: { durationInSecs: 60, renewalIntervalInSecs: 20 },
    });
  });

  it('renders a native record with the upper-cased service as app and the service as VIP address', () => {
    const record = stored({ service: 'inventory', id: 'inv-1', host: '127.0.0.1', port: 7001, metadata: { owner: 'team-a' } });
    expect(toEurekaInstance(record, 'ADDED')).toMatchObject({
      instanceId: 'inv-1',
      app: 'INVENTORY',
      vipAddress: 'inventory',
      secureVipAddress: 'inventory',
      metadata: { owner: 'team-a' },
      actionType: 'ADDED',
      homePageUrl: 'http://127.0.0.1:7001/',
    });
  });

  it.each<[string, Partial<InstanceRecord>, string]>([
    ['an UP record is UP', { status: 'UP' }, 'UP'],
    ['a drained native record is OUT_OF_SERVICE', { status: 'DRAINING' }, 'OUT_OF_SERVICE'],
    ['a record registered STARTING shows STARTING', { status: 'OUT_OF_SERVICE', metadata: { 'eureka.status': 'STARTING' } }, 'STARTING'],
    ['an override wins over the own status', { status: 'OUT_OF_SERVICE', metadata: { 'eureka.status': 'STARTING', 'eureka.overriddenStatus': 'DOWN' } }, 'DOWN'],
  ])('%s', (_name, fields, expected) => {
    const record = { ...stored({ service: 's', id: 'i', host: '10.0.0.1', port: 80 }), ...fields };
    expect(eurekaStatusOf(record)).toBe(expected);
  });
});

describe('Eureka helpers', () => {
  it('writes apps__hashcode as STATUS_count_ for each status, sorted', () => {
    expect(appsHashCode([{ status: 'UP' }, { status: 'DOWN' }, { status: 'UP' }])).toBe('DOWN_1_UP_2_');
    expect(appsHashCode([])).toBe('');
  });

  it('treats records that differ only in lease times as the same for Eureka clients', () => {
    const record = stored({ service: 's', id: 'i', host: '10.0.0.1', port: 80, metadata: { a: '1' } });
    expect(sameForEureka(record, { ...record, leaseExpiresAt: '2030-01-01T00:00:00.000Z' })).toBe(true);
    expect(sameForEureka(record, { ...record, metadata: { a: '2' } })).toBe(false);
    expect(sameForEureka(record, { ...record, metadata: { a: '1', b: '2' } })).toBe(false);
    expect(sameForEureka(record, { ...record, status: 'OUT_OF_SERVICE' })).toBe(false);
  });
});
