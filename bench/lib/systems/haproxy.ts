/** HAProxy 2.6 as BENCH.md configures it: mode http, roundrobin, keep-alive, `http-reuse always`, one thread. */
import { hasCommand } from '../pin.js';
import type { SystemDefinition } from '../system.js';
import { startExternal } from './external.js';

function haproxyConfig(port: number, backends: number[]): string {
  const servers = backends.map((b, i) => `  server b${i + 1} 127.0.0.1:${b}`).join('\n');
  return `global
  nbthread 1
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
  bind 127.0.0.1:${port}
  default_backend backends

backend backends
  balance roundrobin
${servers}
`;
}

export const haproxy: SystemDefinition = {
  id: 'haproxy',
  label: 'HAProxy',
  unavailable: async () => (hasCommand('haproxy') ? undefined : 'haproxy not found on PATH'),
  start: (context) =>
    startExternal(context, {
      name: 'haproxy',
      command: 'haproxy',
      configFile: 'haproxy.cfg',
      config: (port) => haproxyConfig(port, context.backends.ports),
      args: (file) => ['-db', '-f', file],
    }),
};
