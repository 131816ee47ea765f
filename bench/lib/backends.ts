/** The backends: two Node HTTP servers in one child process, identical for every system (HTTP/1.1 or h2c). */
import type { Pinning } from './pin.js';
import type { ProcessGroup, Started } from './processes.js';

export interface Backends {
  ports: number[];
  process: Started;
}

/** Request path for a body size (see children/backend-server.ts). */
export function bodyPath(bytes: number): string {
  return bytes === 16384 ? '/bytes/16384' : '/bytes/100';
}

/** `tick`: the child prints its running count of answered requests (bench/stability.ts reads it). */
export function startBackends(group: ProcessGroup, pinning: Pinning, tick = false): Promise<Backends> {
  return startBackendChild('backends', 'backend-server.ts', group, pinning, tick ? { count: 2, tick } : { count: 2 });
}

/** Two node:http2 (h2c) backends: 100 B for a GET, an Echo reply for a gRPC call (bench/h2.ts). */
export function startH2Backends(group: ProcessGroup, pinning: Pinning): Promise<Backends> {
  return startBackendChild('h2-backends', 'h2-backend-server.ts', group, pinning, { count: 2 });
}

async function startBackendChild(name: string, childFile: string, group: ProcessGroup, pinning: Pinning, config: object): Promise<Backends> {
  const started = group.startNodeScript(name, childFile, config, { cpu: pinning.loadCpu });
  const { ports } = await started.readyMessage<{ ports: number[] }>(10_000);
  return { ports, process: started };
}
