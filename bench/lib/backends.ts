/** The backends: two Node HTTP servers in one child process, identical for every system. */
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

export async function startBackends(group: ProcessGroup, pinning: Pinning): Promise<Backends> {
  const started = group.startNodeScript('backends', 'backend-server.ts', { count: 2 }, { cpu: pinning.loadCpu });
  const { ports } = await started.readyMessage<{ ports: number[] }>(10_000);
  return { ports, process: started };
}
