/**
 * The configuration schema: every field, its default and its checks, in one place.
 * Keys are public API (DESIGN §3). `config/waypost.yaml` documents each field and
 * test/unit/config-reference.test.ts fails when one is undocumented.
 *
 * Durations are normalised to milliseconds, listen addresses to {host, port}.
 */
import { z } from 'zod';
import { HTTP_BALANCER_NAMES, TCP_BALANCER_NAMES } from '../balancer/policy.js';
import { SERVICE_NAME_PATTERN } from '../types.js';
import { parseHostPort, type HostPort } from '../net/address.js';
import { PROXY_ID_PATTERN } from '../net/via.js';
import { parseDuration } from './duration.js';
import { cidr, duration, durationValue } from './fields.js';
import { policyDefaultsSchema, routePolicyShape } from './policy-schema.js';

/**
 * HTTP forwarding engines (config `engine`); src/proxy/http-server.ts maps each name to
 * its implementation with `satisfies Record<EngineName, …>`, so the compiler checks both.
 */
export const ENGINE_NAMES = ['http-proxy', 'undici', 'raw'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

const hostPortValue = z.string().transform((value, ctx): HostPort => {
  const parsed = parseHostPort(value);
  if (typeof parsed === 'string') {
    ctx.addIssue({ code: 'custom', message: parsed });
    return z.NEVER;
  }
  return parsed;
}).describe('HOST:PORT'); // what config errors say the field takes (config/issues.ts)

/** A listen address field, normalised to {host, port}. */
const hostPort = (fallback: string) => hostPortValue.default(parseHostPort(fallback) as HostPort);

const serviceName = z
  .string()
  .regex(SERVICE_NAME_PATTERN, 'expected a service name: lower-case letters, digits and "-", 1-63 characters');

/**
 * What a listener speaks: `http1`, and HTTP/2 as `h2c` (cleartext, prior knowledge) on a plain
 * listener or `h2` (ALPN) on a TLS one. Both HTTP/2 names are accepted on either kind and
 * mean "HTTP/2 here", so one list fits every listener.
 */
export const LISTENER_PROTOCOLS = ['http1', 'h2c', 'h2'] as const;
export type ListenerProtocol = (typeof LISTENER_PROTOCOLS)[number];

const listenerSchema = z
  .strictObject({
    address: hostPortValue,
    /** Terminate TLS on this listener with the certificates of `tls`. */
    tls: z.boolean().default(false),
    /** Protocols served on this listener. */
    protocols: z.array(z.enum(LISTENER_PROTOCOLS)).min(1).default(['http1', 'h2c', 'h2']),
    /** `https`: every request is redirected to https://{host}{uri} before routing (src/policy/redirect.ts). */
    redirect: z.literal('https').optional(),
  })
  // A TLS listener redirecting to https would redirect to itself forever.
  .superRefine((listener, ctx) => {
    if (listener.redirect !== undefined && listener.tls) {
      ctx.addIssue({ code: 'custom', path: ['redirect'], input: listener.redirect, message: 'must be omitted on a listener with tls: true, got "https"' });
    }
  });

const timeoutsSchema = z.strictObject({
  /** Upstream TCP connect. */
  connect: duration('2s'),
  /** Upstream response headers after the request was sent. */
  header: duration('30s'),
  /** Inactivity on either side of an open exchange. */
  idle: duration('60s'),
  /** Graceful stop: how long in-flight requests may take to finish. */
  grace: duration('30s'),
});

/** Per-route overrides; an omitted field falls back to the global `timeouts` (so no defaults here). */
const routeTimeoutsSchema = z.strictObject({
  connect: durationValue.optional(),
  header: durationValue.optional(),
  idle: durationValue.optional(),
});

const stickySchema = z.strictObject({
  /** Cookie that pins a client to an instance while that instance is healthy. */
  cookie: z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'expected a cookie name').default('waypost_affinity'),
  /** Cookie lifetime; 0 = session cookie. */
  ttl: duration('0s'),
});

const hashKeySchema = z
  .strictObject({
    header: z.string().min(1).optional(),
    cookie: z.string().min(1).optional(),
    /** Hash the client IP when the header and cookie are absent; false spreads such requests at random. */
    clientIp: z.boolean().optional(),
  })
  .refine((key) => key.clientIp !== false || key.header !== undefined || key.cookie !== undefined, {
    message: 'clientIp: false needs a header or cookie to hash',
  });

export const routeSchema = z
  .strictObject({
    /** Exact host (`api.example.com`) or a wildcard (`*.example.com`); omitted = any host. */
    host: z
      .string()
      .regex(/^(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i, 'expected a host name or *.domain')
      .optional(),
    /** Path prefix, matched on segment boundaries. */
    path: z.string().startsWith('/', 'must start with "/"').default('/'),
    service: serviceName,
    stripPrefix: z.boolean().default(false),
    balancer: z.enum(HTTP_BALANCER_NAMES).optional(),
    /** Header values that must all match (case-insensitive names, exact values). */
    headers: z.record(z.string().min(1), z.string()).default({}),
    timeouts: routeTimeoutsSchema.optional(),
    retries: z.number().int().min(0).max(10).optional(),
    sticky: z.union([z.boolean(), stickySchema]).optional(),
    hashKey: hashKeySchema.optional(),
    /** Traffic policy (config/policy-schema.ts); each key replaces the same key of `defaults`. */
    ...routePolicyShape,
  })
  .refine((route) => route.retries === undefined || route.retry === undefined, {
    message: 'give either retries (the short form) or retry, not both',
    path: ['retries'],
  });
// A route with no host, path "/" and no headers is a catch-all: every request no more specific route takes.

const activeCheckSchema = z.strictObject({
  /** `http` probes `path`; `tcp` only connects; `grpc` asks grpc.health.v1 Health/Check over HTTP/2. */
  type: z.enum(['http', 'tcp', 'grpc']).default('http'),
  /** `grpc` only: the service name asked about; "" = the server as a whole. */
  grpcService: z.string().max(200).default(''),
  path: z.string().startsWith('/', 'must start with "/"').default('/healthz'),
  interval: duration('5s'),
  timeout: duration('1s'),
  /** Consecutive passes before an unhealthy endpoint is healthy again. */
  passes: z.number().int().min(1).max(100).default(2),
  /** Consecutive failures before a healthy endpoint is unhealthy. */
  fails: z.number().int().min(1).max(100).default(3),
  /** Accepted status range, inclusive. */
  expectStatus: z
    .tuple([z.number().int().min(100).max(599), z.number().int().min(100).max(599)])
    .default([200, 399]),
});

const passiveSchema = z.strictObject({
  /** Consecutive gateway errors (5xx from the proxy's view, connect failures) before ejection; 0 disables. */
  consecutiveFailures: z.number().int().min(0).max(1000).default(5),
  /** First ejection length; each repeat multiplies it, up to `maxEjection`. */
  baseEjection: duration('30s'),
  maxEjection: duration('5m'),
  /** At most this share of a service's instances is ejected at once. */
  maxEjectionPercent: z.number().min(0).max(100).default(50),
  /** Publish ejections through Redis so other proxies honour them. */
  share: z.boolean().default(true),
});

const tcpListenerSchema = z.strictObject({
  listen: hostPortValue,
  service: serviceName,
  balancer: z.enum(TCP_BALANCER_NAMES).default('round-robin'),
  /** Route by TLS SNI to `sniRoutes` instead of `service` without terminating TLS. */
  sniRoutes: z.record(z.string().min(1), serviceName).optional(),
  maxConnections: z.number().int().min(1).max(1_000_000).default(10_000),
  timeouts: z
    .strictObject({ connect: duration('2s'), idle: duration('5m') })
    .prefault({}),
  retries: z.number().int().min(0).max(10).default(2),
});

const certificateSchema = z.strictObject({
  hosts: z.array(z.string().min(1)).min(1),
  cert: z.string().min(1),
  key: z.string().min(1),
  /** Serve this certificate when the client sends no (or an unknown) SNI name. */
  default: z.boolean().default(false),
});

export const configSchema = z.strictObject({
  /** HTTP listener(s). */
  listen: z
    .preprocess((value) => (typeof value === 'string' ? [{ address: value }] : value), z.array(listenerSchema).min(1))
    .default([{ address: { host: '0.0.0.0', port: 8080 }, tls: false, protocols: ['http1', 'h2c', 'h2'] }]),
  admin: z
    .strictObject({
      listen: hostPort('127.0.0.1:9901'),
      /** Bearer token required on every mutating call; "" = no auth (loopback only is the default). */
      token: z.string().default(''),
      /** Registered hosts must fall inside one of these; [] = any address. */
      allowedCidrs: z.array(cidr).default([]),
      /** Largest accepted request body. */
      maxBodyBytes: z.number().int().min(256).max(16 * 1024 * 1024).default(64 * 1024),
      /** Parked blocking queries at most. */
      maxWaiters: z.number().int().min(0).max(100_000).default(1000),
    })
    .prefault({}),
  registry: z
    .strictObject({
      store: z.enum(['memory', 'redis']).default('memory'),
      /** Default lease for registrations that do not say. */
      ttl: duration('30s'),
      /** Hold expiry when more than this share of a service's instances would expire in one sweep; 0 disables. */
      selfPreservation: z.number().min(0).max(1).default(0.85),
      /** Self-preservation only applies to services with at least this many instances. */
      selfPreservationMinInstances: z.number().int().min(1).default(3),
      /** How often leases are swept. */
      sweepInterval: duration('1s'),
      maxInstancesPerService: z.number().int().min(1).default(10_000),
    })
    .prefault({}),
  redis: z
    .strictObject({
      /** `redis://[:password@]host:port[/db]`, `rediss://…` or `redis+sentinel://host:port,host:port/name`. */
      url: z.string().default(''),
      /** Sentinel addresses (`host:port`); with `name`, selects Sentinel. */
      sentinels: z.array(z.string()).default([]),
      name: z.string().default(''),
      /** Cluster seed nodes (`host:port`). */
      cluster: z.array(z.string()).default([]),
      password: z.string().default(''),
      /** Key prefix; every key shares the hash tag `{prefix}` so scripts work on Cluster. */
      prefix: z.string().regex(/^[A-Za-z0-9:_-]{1,64}$/, 'expected 1-64 of A-Z a-z 0-9 : _ -').default('waypost'),
      /** Change-feed entries kept (older ones are trimmed; a mirror that falls behind resyncs). */
      feedLength: z.number().int().min(100).default(100_000),
    })
    .prefault({}),
  /** This proxy's zone, for zone preference; "" = no preference. */
  zone: z.string().default(''),
  /** This proxy's name in the Via header it adds (loop detection); "" = a random id per start, shared by its workers. */
  proxyId: z
    .string()
    .refine((v) => v === '' || PROXY_ID_PATTERN.test(v), { message: 'expected "" or 1-64 of A-Z a-z 0-9 . _ -' })
    .default(''),
  /** Host convention: `{service}.{domain}` routes to `service`. */
  domains: z.array(z.string().regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i, 'expected a domain name')).default(['localhost']),
  balancer: z.enum(HTTP_BALANCER_NAMES).default('round-robin'),
  /** Below this share of healthy instances, balance over all of them; 0 disables. */
  panicThreshold: z.number().min(0).max(1).default(0.5),
  /** Ramp a new or returning instance's weight up over this time; 0s disables. */
  slowStart: duration('0s'),
  timeouts: timeoutsSchema.prefault({}),
  retries: z.number().int().min(0).max(10).default(2),
  /** HTTP/1.1 forwarding engine; raw measured the least CPU per request (bench/run.ts, README "Performance"). */
  engine: z.enum(ENGINE_NAMES).default('raw'),
  /**
   * Who parses client HTTP/1.1: `raw` (with engine raw) serves requests with no body or a
   * Content-Length one on Node's llhttp directly and hands a connection to node:http at its first other
   * request (src/proxy/raw-http1/connection.ts); `node` = node:http only.
   */
  http1Server: z.enum(['raw', 'node']).default('raw'),
  limits: z
    .strictObject({
      /** Largest request header block from clients (431 above). */
      maxHeaderBytes: z.number().int().min(1024).max(1024 * 1024).default(32 * 1024),
      /** Largest request body forwarded (413 above); 0 = unlimited. */
      maxBodyBytes: z.number().int().min(0).default(0),
      /** Request bodies up to this size are buffered so they can be retried. */
      retryBufferBytes: z.number().int().min(0).max(16 * 1024 * 1024).default(64 * 1024),
      /** Client must send all request headers within this time (408 after). */
      headersTimeout: duration('10s'),
      /** Open client connections per HTTP listener; 0 = unlimited. */
      maxConnections: z.number().int().min(0).default(0),
      http2: z
        .strictObject({
          /** Streams one client connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
          maxConcurrentStreams: z.number().int().min(1).max(10_000).default(100),
          /** Per-stream receive window the proxy advertises (flow control). */
          initialWindowSize: z.number().int().min(65_535).max(2 ** 31 - 1).default(1024 * 1024),
          /** Streams a client may reset within one second before its connection is closed (rapid reset). */
          maxResetsPerSecond: z.number().int().min(1).max(100_000).default(200),
        })
        .prefault({}),
    })
    .prefault({}),
  /** Proxies whose X-Forwarded-For is trusted and extended; others' is replaced. */
  trustedProxies: z.array(cidr).default([]),
  routes: z.array(routeSchema).default([]),
  /** Policy every route gets unless it sets the same key itself (DESIGN §8 order). */
  defaults: policyDefaultsSchema.prefault({}),
  health: z
    .strictObject({
      /** Active checks, per service name. */
      active: z.record(serviceName, activeCheckSchema).default({}),
      passive: passiveSchema.prefault({}),
    })
    .prefault({}),
  tcp: z.array(tcpListenerSchema).default([]),
  tls: z
    .strictObject({
      certificates: z.array(certificateSchema).default([]),
      minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
    })
    .prefault({}),
  compat: z.strictObject({ eureka: z.boolean().default(false), consul: z.boolean().default(false) }).prefault({}),
  /** OpenTelemetry tracing (OTLP/HTTP); off while otlpEndpoint is "". */
  tracing: z
    .strictObject({
      /** OTLP/HTTP traces URL, e.g. http://127.0.0.1:4318/v1/traces. */
      otlpEndpoint: z.union([z.literal(''), z.url({ protocol: /^https?$/ })]).default(''),
      /** Share of requests without an incoming trace context that start a trace (parent-based otherwise). */
      sampleRatio: z.number().min(0).max(1).default(0.01),
      /** `service.name` of the spans this proxy exports. */
      serviceName: z.string().min(1).max(200).default('waypost'),
      /** Finished spans waiting for export at most; beyond it spans are dropped and counted. */
      maxQueueSize: z.number().int().min(1).max(1_000_000).default(2048),
    })
    .prefault({}),
  /** `off`, `stdout`, or a file path. */
  accessLog: z.string().min(1).default('stdout'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  workers: z.number().int().min(1).max(64).default(1),
  /** WebSockets of a deregistered or draining instance stay open this long. */
  drainTimeout: duration('30s'),
});

/** The validated, frozen configuration every component receives. */
export type WaypostConfig = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type RouteConfig = WaypostConfig['routes'][number];
export type ActiveCheckConfig = z.output<typeof activeCheckSchema>;
export type PassiveHealthConfig = WaypostConfig['health']['passive'];
export type TcpListenerConfig = WaypostConfig['tcp'][number];
export type TimeoutsConfig = WaypostConfig['timeouts'];
