/** `direct`: the load generator talks to the first backend, no proxy. The physical limit. */
import type { SystemDefinition } from '../system.js';

export const direct: SystemDefinition = {
  id: 'direct',
  label: 'direct',
  unavailable: async () => undefined,
  start: async ({ backends }) => ({ port: backends.ports[0]!, stop: async () => undefined }),
};
