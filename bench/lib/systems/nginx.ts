/**
 * nginx 1.22 as BENCH.md configures it: upstream keepalive 64 (and a 512 row), HTTP/1.1 upstream,
 * `Connection ""`, no access log, one worker (bench/multicore.ts asks for more), in the
 * foreground, every path under a temp dir.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { hasCommand } from '../pin.js';
import type { SystemDefinition } from '../system.js';
import { startExternal } from './external.js';

/** What the HTTP/2 rows change: clients speak h2c, and gRPC upstreams go through grpc_pass. */
export interface NginxProtocols {
  /** `listen … http2`: h2c with prior knowledge (nginx 1.22 then serves no HTTP/1.1 on the port). */
  http2: boolean;
  /** `grpc_pass grpc://backends`: HTTP/2 to the backends (nginx's only HTTP/2 upstream). */
  grpcUpstream: boolean;
}

const HTTP1: NginxProtocols = { http2: false, grpcUpstream: false };

function nginxConfig(tmp: string, port: number, backends: number[], keepalive: number, protocols: NginxProtocols, workers: number): string {
  const forward = protocols.grpcUpstream
    ? '      grpc_pass grpc://backends;'
    : `      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";`;
  // An HTTP/2 connection is closed after keepalive_requests (default 1000) requests; h2load
  // does not reconnect, so the default would end its clients early.
  const clientLimit = protocols.http2 ? '\n  keepalive_requests 10000000;' : '';
  const servers = backends.map((b) => `    server 127.0.0.1:${b};`).join('\n');
  // workers 0: one process and no master (bench/instructions.ts: valgrind cannot reach a forked worker).
  const processes = workers === 0 ? 'master_process off;\nworker_processes 1;' : `worker_processes ${workers};`;
  return `${processes}
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
  scgi_temp_path ${tmp}/scgi;${clientLimit}
  upstream backends {
${servers}
    keepalive ${keepalive};
  }
  server {
    listen 127.0.0.1:${port}${protocols.http2 ? ' http2' : ''};
    location / {
${forward}
    }
  }
}
`;
}

/**
 * nginx with an upstream keepalive pool of `keepalive` (per worker) and `workers` worker
 * processes (0: no master, the one process serves); `id`/`label` default to the HTTP/1.1 rows.
 */
export function nginx(
  keepalive: number,
  protocols = HTTP1,
  id = `nginx-ka${keepalive}`,
  label = `nginx keepalive ${keepalive}`,
  workers = 1,
): SystemDefinition {
  return {
    id,
    label,
    unavailable: async () => (hasCommand('nginx') ? undefined : 'nginx not found on PATH'),
    start: (context) => {
      for (const dir of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(context.tmpDir, dir));
      return startExternal(context, {
        name: id,
        command: 'nginx',
        configFile: 'nginx.conf',
        config: (port) => nginxConfig(context.tmpDir, port, context.backends.ports, keepalive, protocols, workers),
        // -e: nginx opens its compiled-in error log before reading the config; keep it in the temp dir.
        args: (file) => ['-p', context.tmpDir, '-e', path.join(context.tmpDir, 'error.log'), '-c', file],
      });
    },
  };
}

export const nginxKeepalive64 = nginx(64);
export const nginxKeepalive512 = nginx(512);
