/**
 * Caddy 2.6 as BENCH.md configures it: admin and automatic HTTPS off, round-robin reverse_proxy,
 * GOMAXPROCS=1, HOME and XDG_* in the temp dir so it writes nothing outside it. `bind` keeps the
 * listener on 127.0.0.1 (a site address alone only matches the host).
 */
import path from 'node:path';
import { hasCommand } from '../pin.js';
import type { SystemDefinition } from '../system.js';
import { startExternal } from './external.js';

function caddyfile(port: number, backends: number[]): string {
  const upstreams = backends.map((b) => `127.0.0.1:${b}`).join(' ');
  return `{
  admin off
  auto_https off
}

http://127.0.0.1:${port} {
  bind 127.0.0.1
  reverse_proxy ${upstreams} {
    lb_policy round_robin
  }
}
`;
}

export const caddy: SystemDefinition = {
  id: 'caddy',
  label: 'Caddy',
  unavailable: async () => (hasCommand('caddy') ? undefined : 'caddy not found on PATH'),
  start: (context) =>
    startExternal(context, {
      name: 'caddy',
      command: 'caddy',
      configFile: 'Caddyfile',
      config: (port) => caddyfile(port, context.backends.ports),
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
