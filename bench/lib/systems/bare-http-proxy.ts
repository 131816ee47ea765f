/** bare http-proxy: keep-alive agent per backend, round-robin; the engine's floor. */
import type { SystemDefinition } from '../system.js';
import { startNodePeer } from './node-peer.js';

export const bareHttpProxy: SystemDefinition = {
  id: 'bare-http-proxy',
  label: 'bare http-proxy + keep-alive agent',
  unavailable: async () => undefined,
  start: (context) => startNodePeer(context, 'bare-http-proxy', 'bare-http-proxy-server.ts', {}),
};
