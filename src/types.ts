/**
 * Core value types shared by every layer. Records are plain JSON-able data;
 * everything the request path reads is frozen.
 */

/** Service names (DESIGN §2): DNS-label shaped, so `{service}.{domain}` is a valid host. */
export const SERVICE_NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * SERVICE_NAME_PATTERN.test(text) as a loop, for the request path (a convention route's host):
 * a short name costs a few compares, where a regex call costs ~600 instructions.
 */
export function isServiceName(text: string): boolean {
  const last = text.length - 1;
  if (last < 0 || last > 62) return false;
  for (let i = 0; i <= last; i++) {
    const code = text.charCodeAt(i);
    const alphanumeric = (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39);
    if (!alphanumeric && (code !== 0x2d /* - */ || i === 0 || i === last)) return false;
  }
  return true;
}
/** Instance ids (DESIGN §2). */
export const INSTANCE_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export const INSTANCE_STATUSES = ['UP', 'DRAINING', 'OUT_OF_SERVICE'] as const;
export type InstanceStatus = (typeof INSTANCE_STATUSES)[number];

/** What an instance speaks (DESIGN §8): HTTP/1.1, HTTP/2 in cleartext with prior knowledge, or HTTP/2 over TLS. */
export const INSTANCE_PROTOCOLS = ['http1', 'h2c', 'h2'] as const;
export type InstanceProtocol = (typeof INSTANCE_PROTOCOLS)[number];

/** One registered instance of a service, as stored in the registry (DESIGN §2). */
export interface InstanceRecord {
  readonly id: string;
  readonly service: string;
  readonly host: string;
  readonly port: number;
  /** 0–10000; 0 = registered but takes no new traffic. */
  readonly weight: number;
  /** "" when unknown. */
  readonly zone: string;
  readonly tags: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly status: InstanceStatus;
  /** What the instance speaks; `http1` unless registered otherwise (records stored before the field read as `http1`). */
  readonly protocol: InstanceProtocol;
  /** Lease length in seconds. */
  readonly ttl: number;
  /** Routes this instance declares for its service (DESIGN §8); absent when it declares none. */
  readonly routes?: readonly DeclaredRoute[];
  /** ISO-8601, registry clock. */
  readonly registeredAt: string;
  /** ISO-8601, registry clock. */
  readonly leaseExpiresAt: string;
}

/** What a caller supplies to register (validated by registry/validate.ts). */
export interface RegistrationInput {
  readonly service: string;
  readonly id?: string;
  readonly host: string;
  readonly port: number;
  readonly weight?: number;
  readonly zone?: string;
  readonly tags?: readonly string[];
  readonly metadata?: Readonly<Record<string, string>>;
  readonly status?: InstanceStatus;
  readonly protocol?: InstanceProtocol;
  readonly ttl?: number;
  readonly routes?: readonly DeclaredRoute[];
}

/**
 * A route an instance declares for its own service (DESIGN §8): the matching keys of a
 * config route. It routes while at least one registered instance of the service declares it.
 */
export interface DeclaredRoute {
  /** Exact host (lower case) or `*.domain`; absent = any host. */
  readonly host?: string;
  /** Path prefix, matched on segment boundaries. */
  readonly path: string;
  readonly stripPrefix: boolean;
}

/** Stable key of an instance across snapshots: `service/id`. */
export function instanceKey(service: string, id: string): string {
  return `${service}/${id}`;
}
