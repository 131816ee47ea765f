/**
 * Caddy 2.6 as BENCH.md configures it: admin and automatic HTTPS off, round-robin reverse_proxy,
 * GOMAXPROCS=1, HOME and XDG_* in the temp dir so it writes nothing outside it. `bind` keeps the
 * listener on 127.0.0.1 (a site address alone only matches the host).
 */
import path from 'node:path';
import { hasCommand } from '../pin.js';
import type { SystemDefinition } from '../system.js';
import { startExternal } from './external.js';

/** What the HTTP/2 rows change: h2c from clients (`servers { protocols … h2c }`), h2c:// upstreams. */
export interface CaddyProtocols {
  h2cClients: boolean;
  h2cUpstreams: boolean;
}

function caddyfile(port: number, backends: number[], protocols: CaddyProtocols): string {
  const scheme = protocols.h2cUpstreams ? 'h2c://' : '';
  const upstreams = backends.map((b) => `${scheme}127.0.0.1:${b}`).join(' ');
  const servers = protocols.h2cClients ? '\n  servers {\n    protocols h1 h2 h2c\n  }' : '';
  return `{
  admin off
  auto_https off${servers}
}

http://127.0.0.1:${port} {
  bind 127.0.0.1
  reverse_proxy ${upstreams} {
    lb_policy round_robin
  }
}
`;
}

export function caddySystem(protocols: CaddyProtocols, id: string, label: string): SystemDefinition {
  return {
    id,
    label,
    unavailable: async () => (hasCommand('caddy') ? undefined : 'caddy not found on PATH'),
    start: (context) =>
      startExternal(context, {
        name: id,
        command: 'caddy',
        configFile: 'Caddyfile',
        config: (port) => caddyfile(port, context.backends.ports, protocols),
        args: (file) => ['run', '--config', file, '--adapter', 'caddyfile'],
        env: ({ tmpDir }) => ({
          ...process.env,
          GOMAXPROCS: '1',
          HOME: tmpDir,
          XDG_DATA_HOME: path.join(tmpDir, 'data'),
          XDG_CONFIG_HOME: path.join(tmpDir, 'config'),
          XDG_CACHE_HOME: path.join(tmpDir, 'cache'),
        }),
      }),
  };
}

export const caddy = caddySystem({ h2cClients: false, h2cUpstreams: false }, 'caddy', 'Caddy');
