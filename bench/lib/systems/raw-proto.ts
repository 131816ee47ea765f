/** The raw-socket llhttp prototype (issue 21): what HTTP/1.1 proxying costs below node:http. */
import type { SystemDefinition } from '../system.js';
import { startNodePeer } from './node-peer.js';

export const rawPrototype: SystemDefinition = {
  id: 'raw-proto',
  label: 'raw llhttp prototype',
  unavailable: async () => undefined,
  start: (context) => startNodePeer(context, 'raw-proto', 'raw-proxy-server.ts', {}),
};
