/**
 * HAProxy 2.6 as BENCH.md configures it: mode http, roundrobin, keep-alive, `http-reuse always`,
 * one thread (bench/multicore.ts asks for more).
 */
import { hasCommand } from '../pin.js';
import type { SystemDefinition } from '../system.js';
import { startExternal } from './external.js';

/** What the HTTP/2 rows change: `proto h2` on the listener (h2c clients) and on the servers. */
export interface HaproxyProtocols {
  h2Clients: boolean;
  h2Servers: boolean;
}

function haproxyConfig(port: number, backends: number[], protocols: HaproxyProtocols, threads: number): string {
  const serverProto = protocols.h2Servers ? ' proto h2' : '';
  const servers = backends.map((b, i) => `  server b${i + 1} 127.0.0.1:${b}${serverProto}`).join('\n');
  return `global
  nbthread ${threads}
  # Far above -c64; higher values ask for more file descriptors than containers often allow.
  maxconn 4096

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s

frontend bench
  bind 127.0.0.1:${port}${protocols.h2Clients ? ' proto h2' : ''}
  default_backend backends

backend backends
  balance roundrobin
${servers}
`;
}

export function haproxySystem(protocols: HaproxyProtocols, id: string, label: string, threads = 1): SystemDefinition {
  return {
    id,
    label,
    unavailable: async () => (hasCommand('haproxy') ? undefined : 'haproxy not found on PATH'),
    start: (context) =>
      startExternal(context, {
        name: id,
        command: 'haproxy',
        configFile: 'haproxy.cfg',
        config: (port) => haproxyConfig(port, context.backends.ports, protocols, threads),
        args: (file) => ['-db', '-f', file],
      }),
  };
}

export const haproxy = haproxySystem({ h2Clients: false, h2Servers: false }, 'haproxy', 'HAProxy');
