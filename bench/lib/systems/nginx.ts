/**
 * nginx 1.22 as BENCH.md configures it: upstream keepalive 64 (and a 512 row), HTTP/1.1 upstream,
 * `Connection ""`, no access log, one worker, in the foreground, every path under a temp dir.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { hasCommand } from '../pin.js';
import type { SystemDefinition } from '../system.js';
import { startExternal } from './external.js';

function nginxConfig(tmp: string, port: number, backends: number[], keepalive: number): string {
  const servers = backends.map((b) => `    server 127.0.0.1:${b};`).join('\n');
  return `worker_processes 1;
daemon off;
pid ${tmp}/nginx.pid;
error_log ${tmp}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${tmp}/client_body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  upstream backends {
${servers}
    keepalive ${keepalive};
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

function nginx(keepalive: number): SystemDefinition {
  return {
    id: `nginx-ka${keepalive}`,
    label: `nginx keepalive ${keepalive}`,
    unavailable: async () => (hasCommand('nginx') ? undefined : 'nginx not found on PATH'),
    start: (context) => {
      for (const dir of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(context.tmpDir, dir));
      return startExternal(context, {
        name: `nginx-ka${keepalive}`,
        command: 'nginx',
        configFile: 'nginx.conf',
        config: (port) => nginxConfig(context.tmpDir, port, context.backends.ports, keepalive),
        // -e: nginx opens its compiled-in error log before reading the config; keep it in the temp dir.
        args: (file) => ['-p', context.tmpDir, '-e', path.join(context.tmpDir, 'error.log'), '-c', file],
      });
    },
  };
}

export const nginxKeepalive64 = nginx(64);
export const nginxKeepalive512 = nginx(512);
