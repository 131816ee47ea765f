/** bare undici: `Pool.stream` per backend, round-robin; the engine's floor. */
import type { SystemDefinition } from '../system.js';
import { startNodePeer } from './node-peer.js';

export const bareUndici: SystemDefinition = {
  id: 'bare-undici',
  label: 'bare undici Pool.stream',
  unavailable: async () => undefined,
  start: (context) => startNodePeer(context, 'bare-undici', 'bare-undici-server.ts', {}),
};
