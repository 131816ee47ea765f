/**
 * Eureka's instance document ↔ Waypost's instance record.
 *
 * Inbound (`POST /eureka/v2/apps/{APP}` with `{"instance": {...}}`):
 * - service: the app name mapped by names.ts (`ORDER_SERVICE` → `order-service`);
 *   the original is kept as `eureka.app` and given back as `app`.
 * - id: `instanceId`, else `hostName` (what Eureka itself uses), mapped by names.ts.
 * - host: `ipAddr` when it is an IP address, else `hostName`.
 * - port: `port.$` unless `port.@enabled` is false, then `securePort.$`.
 * - ttl: `leaseInfo.durationInSecs` (Eureka's default 90).
 * - status: `UP` → UP; `DOWN`, `STARTING`, `OUT_OF_SERVICE`, `UNKNOWN` →
 *   OUT_OF_SERVICE (takes no traffic), the original kept as `eureka.status`.
 * - zone: `dataCenterInfo.metadata.availability-zone`, else `metadata.zone`.
 * - metadata: the instance's own `metadata` map, plus `eureka.*` keys for what
 *   the answers must give back (vipAddress, hostName, URLs, data center, …).
 *   The native limits apply (64 keys, 512 characters a value, 8 KiB).
 *
 * Outbound, any record (Eureka-registered or native) renders as an instance;
 * a native one has app = upper-cased service name and vipAddress = service name.
 */
import { invalid } from '../../errors.js';
import { canonicalIp } from '../../net/address.js';
import { checkProtocol, parseRegistration } from '../../registry/validate.js';
import type { InstanceRecord, InstanceStatus, RegistrationInput } from '../../types.js';
import { toInstanceId, toServiceName } from '../names.js';
import { isRecord } from '../shared.js';

export const EUREKA_STATUSES = ['UP', 'DOWN', 'STARTING', 'OUT_OF_SERVICE', 'UNKNOWN'] as const;
export type EurekaStatus = (typeof EUREKA_STATUSES)[number];

/** Metadata keys this layer owns; hidden from the `metadata` map in answers. */
export const EUREKA_META = {
  app: 'eureka.app',
  instanceId: 'eureka.instanceId',
  hostName: 'eureka.hostName',
  status: 'eureka.status',
  overriddenStatus: 'eureka.overriddenStatus',
  vipAddress: 'eureka.vipAddress',
  secureVipAddress: 'eureka.secureVipAddress',
  securePort: 'eureka.securePort',
  secure: 'eureka.secure',
  homePageUrl: 'eureka.homePageUrl',
  statusPageUrl: 'eureka.statusPageUrl',
  healthCheckUrl: 'eureka.healthCheckUrl',
  dataCenter: 'eureka.dataCenter',
  renewalInterval: 'eureka.renewalIntervalInSecs',
} as const;
const PREFIX = 'eureka.';

/** Eureka's default lease (leaseInfo.durationInSecs). */
const DEFAULT_LEASE_SECONDS = 90;

export function isEurekaStatus(value: unknown): value is EurekaStatus {
  return typeof value === 'string' && (EUREKA_STATUSES as readonly string[]).includes(value);
}

export function toWaypostStatus(status: EurekaStatus): InstanceStatus {
  return status === 'UP' ? 'UP' : 'OUT_OF_SERVICE';
}

/** The status Eureka clients see: an override wins while it holds, then the instance's own. */
export function eurekaStatusOf(record: InstanceRecord): EurekaStatus {
  if (record.status === 'UP') return 'UP';
  const override = record.metadata[EUREKA_META.overriddenStatus];
  if (isEurekaStatus(override) && override !== 'UP') return override;
  const own = record.metadata[EUREKA_META.status];
  return isEurekaStatus(own) && own !== 'UP' ? own : 'OUT_OF_SERVICE';
}

export function serviceForApp(app: string): string {
  return toServiceName(app, 'app');
}

export function idForInstance(instanceId: string): string {
  return toInstanceId(instanceId, 'instanceId');
}

/**
 * Validates an `{"instance": {...}}` body for the app in the URL and turns it
 * into a registration (checked by the same parseRegistration as the native API).
 */
export function parseEurekaRegistration(body: unknown, appFromPath: string): RegistrationInput {
  const instance = isRecord(body) && isRecord(body.instance) ? body.instance : undefined;
  if (!instance) throw invalid('instance', 'body must be {"instance": {...}}');
  const service = serviceForApp(appFromPath);
  const hostName = optionalString(instance.hostName, 'instance.hostName');
  const ipAddr = optionalString(instance.ipAddr, 'instance.ipAddr');
  // Any numeric spelling (`127.1`) is an IP address here, as it is to a connect.
  const host = ipAddr !== undefined && canonicalIp(ipAddr) !== undefined ? ipAddr : hostName ?? ipAddr;
  if (host === undefined) throw invalid('instance.hostName', 'instance.hostName or instance.ipAddr is required');
  const originalId = optionalString(instance.instanceId, 'instance.instanceId') ?? hostName ?? host;

  const port = portOf(instance.port, 'instance.port');
  const securePort = portOf(instance.securePort, 'instance.securePort');
  const usePort = port.enabled !== false && port.value !== undefined ? port.value : securePort.enabled ? securePort.value : port.value;
  if (usePort === undefined) throw invalid('instance.port', 'instance.port.$ is required');

  const rawStatus = instance.status ?? 'UP';
  if (!isEurekaStatus(rawStatus)) {
    throw invalid('instance.status', `instance.status must be one of ${EUREKA_STATUSES.join(', ')}`);
  }

  const metadata: Record<string, unknown> = {};
  if (instance.metadata !== undefined) {
    if (!isRecord(instance.metadata)) throw invalid('instance.metadata', 'instance.metadata must be an object');
    for (const [key, value] of Object.entries(instance.metadata)) {
      if (key === '@class' || key.startsWith(PREFIX)) continue;
      metadata[key] = typeof value === 'number' || typeof value === 'boolean' ? String(value) : value;
    }
  }
  const keep = (key: string, value: unknown, field: string) => {
    const text = optionalString(value, field);
    if (text !== undefined && text !== '') metadata[key] = text;
  };
  metadata[EUREKA_META.app] = typeof instance.app === 'string' && instance.app !== '' ? instance.app : appFromPath;
  metadata[EUREKA_META.instanceId] = originalId;
  metadata[EUREKA_META.status] = rawStatus;
  keep(EUREKA_META.hostName, hostName, 'instance.hostName');
  keep(EUREKA_META.vipAddress, instance.vipAddress, 'instance.vipAddress');
  keep(EUREKA_META.secureVipAddress, instance.secureVipAddress, 'instance.secureVipAddress');
  keep(EUREKA_META.homePageUrl, instance.homePageUrl, 'instance.homePageUrl');
  keep(EUREKA_META.statusPageUrl, instance.statusPageUrl, 'instance.statusPageUrl');
  keep(EUREKA_META.healthCheckUrl, instance.healthCheckUrl, 'instance.healthCheckUrl');
  if (securePort.enabled && securePort.value !== undefined) metadata[EUREKA_META.securePort] = String(securePort.value);
  if (usePort !== port.value) metadata[EUREKA_META.secure] = 'true';
  const dataCenter = isRecord(instance.dataCenterInfo) ? instance.dataCenterInfo : {};
  keep(EUREKA_META.dataCenter, dataCenter.name, 'instance.dataCenterInfo.name');
  const leaseInfo = isRecord(instance.leaseInfo) ? instance.leaseInfo : {};
  const renewal = leaseInfo.renewalIntervalInSecs;
  if (typeof renewal === 'number' && Number.isInteger(renewal) && renewal > 0) metadata[EUREKA_META.renewalInterval] = String(renewal);

  const zone = isRecord(dataCenter.metadata) ? dataCenter.metadata['availability-zone'] : metadata.zone;
  const registration: Record<string, unknown> = {
    id: idForInstance(originalId),
    host,
    port: usePort,
    ttl: leaseInfo.durationInSecs ?? DEFAULT_LEASE_SECONDS,
    status: toWaypostStatus(rawStatus),
    metadata,
  };
  if (typeof zone === 'string' && zone !== '') registration.zone = zone;
  // What the instance speaks (http1 | h2c | h2), from its metadata map.
  if (metadata.protocol !== undefined) registration.protocol = checkProtocol(metadata.protocol, 'instance.metadata.protocol');
  return parseRegistration(registration, service);
}

/** `8080`, `"8080"`, or `{"$": 8080, "@enabled": "true"}`. */
function portOf(value: unknown, field: string): { value?: number; enabled?: boolean } {
  if (value === undefined || value === null) return {};
  const raw = isRecord(value) ? value.$ : value;
  const enabledRaw = isRecord(value) ? value['@enabled'] : undefined;
  const number = typeof raw === 'string' && /^\d{1,5}$/.test(raw) ? Number(raw) : raw;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < 0 || number > 65_535) {
    throw invalid(field, `${field}.$ must be a port number`);
  }
  const enabled = enabledRaw === undefined ? undefined : enabledRaw === true || enabledRaw === 'true';
  // Eureka clients send securePort 443 disabled by default; port 0 means "none".
  return number === 0 ? { enabled: false } : { value: number, ...(enabled === undefined ? {} : { enabled }) };
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid(field, `${field} must be a string`);
  return value;
}

export interface EurekaInstance {
  readonly instanceId: string;
  readonly app: string;
  readonly status: EurekaStatus;
  readonly vipAddress: string;
  readonly [key: string]: unknown;
}

/** The app name Eureka clients see for a service's instances. */
export function appNameOf(record: InstanceRecord): string {
  return (record.metadata[EUREKA_META.app] ?? record.service).toUpperCase();
}

/** One record as Eureka's JSON instance document. */
export function toEurekaInstance(record: InstanceRecord, actionType?: 'ADDED' | 'MODIFIED' | 'DELETED'): EurekaInstance {
  const meta = record.metadata;
  const secure = meta[EUREKA_META.secure] === 'true';
  const securePort = secure ? record.port : Number(meta[EUREKA_META.securePort] ?? 443);
  const registeredAt = Date.parse(record.registeredAt);
  const renewedAt = Date.parse(record.leaseExpiresAt) - record.ttl * 1000;
  const override = meta[EUREKA_META.overriddenStatus];
  const userMetadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(meta)) if (!key.startsWith(PREFIX)) userMetadata[key] = value;
  const dataCenterName = meta[EUREKA_META.dataCenter] ?? 'MyOwn';
  const instance: Record<string, unknown> = {
    instanceId: meta[EUREKA_META.instanceId] ?? record.id,
    hostName: meta[EUREKA_META.hostName] ?? record.host,
    app: appNameOf(record),
    ipAddr: record.host,
    status: eurekaStatusOf(record),
    overriddenStatus: isEurekaStatus(override) ? override : 'UNKNOWN',
    port: { $: record.port, '@enabled': secure ? 'false' : 'true' },
    securePort: { $: securePort, '@enabled': secure || meta[EUREKA_META.securePort] !== undefined ? 'true' : 'false' },
    countryId: 1,
    dataCenterInfo: {
      '@class': dataCenterName === 'Amazon' ? 'com.netflix.appinfo.AmazonInfo' : 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo',
      name: dataCenterName,
      ...(record.zone ? { metadata: { 'availability-zone': record.zone } } : {}),
    },
    leaseInfo: {
      renewalIntervalInSecs: Number(meta[EUREKA_META.renewalInterval] ?? 30),
      durationInSecs: record.ttl,
      registrationTimestamp: registeredAt,
      lastRenewalTimestamp: renewedAt,
      evictionTimestamp: 0,
      serviceUpTimestamp: registeredAt,
    },
    metadata: userMetadata,
    homePageUrl: meta[EUREKA_META.homePageUrl] ?? `http://${record.host}:${record.port}/`,
    statusPageUrl: meta[EUREKA_META.statusPageUrl] ?? `http://${record.host}:${record.port}/info`,
    healthCheckUrl: meta[EUREKA_META.healthCheckUrl] ?? `http://${record.host}:${record.port}/health`,
    vipAddress: meta[EUREKA_META.vipAddress] ?? record.service,
    secureVipAddress: meta[EUREKA_META.secureVipAddress] ?? record.service,
    isCoordinatingDiscoveryServer: 'false',
    lastUpdatedTimestamp: String(registeredAt),
    lastDirtyTimestamp: String(registeredAt),
  };
  if (actionType) instance.actionType = actionType;
  return instance as unknown as EurekaInstance;
}

/** Eureka's `apps__hashcode`: `STATUS_count_` for each status present, statuses sorted. */
export function appsHashCode(instances: Iterable<{ readonly status: string }>): string {
  const counts = new Map<string, number>();
  for (const instance of instances) counts.set(instance.status, (counts.get(instance.status) ?? 0) + 1);
  return [...counts.keys()]
    .sort()
    .map((status) => `${status}_${counts.get(status)}_`)
    .join('');
}

/** Equal in everything a Eureka client sees, lease times aside. */
export function sameForEureka(a: InstanceRecord, b: InstanceRecord): boolean {
  return a.host === b.host && a.port === b.port && a.status === b.status && a.zone === b.zone && a.ttl === b.ttl && sameMetadata(a, b);
}

function sameMetadata(a: InstanceRecord, b: InstanceRecord): boolean {
  const keys = Object.keys(a.metadata);
  return keys.length === Object.keys(b.metadata).length && keys.every((key) => a.metadata[key] === b.metadata[key]);
}
