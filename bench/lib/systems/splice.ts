/**
 * Floors below the raw prototype (issue 21): TCP relays that parse nothing, so what a keep-alive
 * request costs through them is what the runtime costs for two reads and two writes.
 */
import type { SystemDefinition } from '../system.js';
import { startNodePeer } from './node-peer.js';

/** Byte relay on net.Socket ('data', write, pause/resume): Node's socket and stream floor. */
export const tcpSplice: SystemDefinition = {
  id: 'tcp-splice',
  label: 'TCP relay on net.Socket (bench only)',
  unavailable: async () => undefined,
  start: (context) => startNodePeer(context, 'tcp-splice', 'tcp-splice-server.ts', {}),
};

/** Byte relay on libuv's TCP handles, no net.Socket or streams: V8's and libuv's floor. */
export const handleSplice: SystemDefinition = {
  id: 'handle-splice',
  label: 'TCP relay on libuv handles (bench only)',
  unavailable: async () => undefined,
  start: (context) => startNodePeer(context, 'handle-splice', 'handle-splice-server.ts', {}),
};
