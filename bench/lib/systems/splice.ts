/**
 * Floors below the raw prototype (issue 21): TCP relays that parse nothing, so what a keep-alive
 * request costs through them is what the runtime costs for two reads and two writes.
 */
import { nodePeerSystem } from './node-peer.js';

/** Byte relay on net.Socket ('data', write, pause/resume): Node's socket and stream floor. */
export const tcpSplice = nodePeerSystem('tcp-splice', 'TCP relay on net.Socket (bench only)', 'tcp-splice-server.ts');

/** Byte relay on libuv's TCP handles, no net.Socket or streams: V8's and libuv's floor. */
export const handleSplice = nodePeerSystem('handle-splice', 'TCP relay on libuv handles (bench only)', 'handle-splice-server.ts');
