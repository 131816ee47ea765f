/**
 * The HTTP/2 rows of `bench/h2.ts` (BENCH.md "HTTP/2 and gRPC rows"): three scenarios, each a set
 * of systems configured as BENCH.md calls fair, driven by h2load with h2c prior knowledge.
 */
import type { SystemDefinition } from '../system.js';
import { caddySystem } from './caddy.js';
import { haproxySystem } from './haproxy.js';
import { nginx } from './nginx.js';
import { ensureWaypostBuilt, startWaypost } from './waypost.js';

export type UpstreamKind = 'http1' | 'h2c';

export interface Scenario {
  id: string;
  title: string;
  /** Which backends the systems forward to: the Node HTTP/1.1 ones or the node:http2 ones. */
  upstream: UpstreamKind;
  path: string;
  /** gRPC: POST a framed Echo request with the gRPC headers. */
  grpc: boolean;
  systems: SystemDefinition[];
  /** Printed under the scenario's table (what could not be compared, and why). */
  notes: string[];
}

/** Waypost with every feature on (access log to /dev/null), as the HTTP/1.1 target rows. */
function waypostH2(id: string, upstream: UpstreamKind): SystemDefinition {
  return {
    id,
    label: 'Waypost + access log',
    unavailable: ensureWaypostBuilt,
    start: (context) =>
      startWaypost(context, { accessLog: 'stdout', ...(upstream === 'h2c' ? { instanceProtocol: 'h2c' as const } : {}) }),
  };
}

/** h2c on both sides: the h2c-h2c and gRPC scenarios compare the same configurations. */
function h2cUpstreamSystems(): SystemDefinition[] {
  return [
    waypostH2('waypost', 'h2c'),
    nginx(64, { http2: true, grpcUpstream: true }, 'nginx', 'nginx grpc_pass, keepalive 64'),
    haproxySystem({ h2Clients: true, h2Servers: true }, 'haproxy', 'HAProxy proto h2 both sides'),
    caddySystem({ h2cClients: true, h2cUpstreams: true }, 'caddy', 'Caddy h2c://'),
  ];
}

const NGINX_NO_H2_UPSTREAM =
  'nginx 1.22 cannot proxy_pass over HTTP/2; its only HTTP/2 upstream is grpc_pass, used here for a plain GET (it forwards any request as HTTP/2), so that row is grpc_pass, not a general h2 proxy.';

export const SCENARIOS: readonly Scenario[] = [
  {
    id: 'h2c-h1',
    title: 'h2c client → HTTP/1.1 instances (100 B GET)',
    upstream: 'http1',
    path: '/bytes/100',
    grpc: false,
    systems: [
      waypostH2('waypost', 'http1'),
      nginx(64, { http2: true, grpcUpstream: false }, 'nginx', 'nginx http2, keepalive 64'),
      haproxySystem({ h2Clients: true, h2Servers: false }, 'haproxy', 'HAProxy proto h2'),
      caddySystem({ h2cClients: true, h2cUpstreams: false }, 'caddy', 'Caddy h2c'),
    ],
    notes: [],
  },
  {
    id: 'h2c-h2c',
    title: 'h2c client → h2c instances (100 B GET)',
    upstream: 'h2c',
    path: '/bytes/100',
    grpc: false,
    systems: h2cUpstreamSystems(),
    notes: [NGINX_NO_H2_UPSTREAM],
  },
  {
    id: 'grpc',
    title: 'gRPC unary Echo (h2c both sides)',
    upstream: 'h2c',
    path: '/waypost.test.Echo/Unary',
    grpc: true,
    systems: h2cUpstreamSystems(),
    notes: ['h2load checks the HTTP status only, not grpc-status: the backend always answers grpc-status 0.'],
  },
];

export function selectScenarios(requested: string[] | undefined): Scenario[] {
  if (!requested) return [...SCENARIOS];
  const unknown = requested.filter((r) => !SCENARIOS.some((s) => s.id === r));
  if (unknown.length > 0) throw new Error(`--scenarios: unknown ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.id).join(', ')}`);
  return SCENARIOS.filter((s) => requested.includes(s.id));
}
