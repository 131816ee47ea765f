/** The raw-socket llhttp prototype (issue 21): what HTTP/1.1 proxying costs below node:http. */
import type { SystemDefinition } from '../system.js';
import { startNodePeer } from './node-peer.js';

export const rawPrototype: SystemDefinition = {
  id: 'raw-proto',
  label: 'raw llhttp prototype',
  unavailable: async () => undefined,
  start: (context) => startNodePeer(context, 'raw-proto', 'raw-proxy-server.ts', {}),
};

/** node:http on the client side, the prototype's raw upstream side: node:http's server cost per request against raw-proto. */
export const httpRawUpstream: SystemDefinition = {
  id: 'http-raw-upstream',
  label: 'node:http + raw upstream (bench only)',
  unavailable: async () => undefined,
  start: (context) => startNodePeer(context, 'http-raw-upstream', 'http-raw-upstream-server.ts', {}),
};

/** The design the README proposes below the raw prototype: libuv handles, llhttp (WebAssembly) offsets, heads spliced as bytes. */
export const wasmPrototype: SystemDefinition = {
  id: 'wasm-proto',
  label: 'handle + wasm llhttp prototype (bench only)',
  unavailable: async () => undefined,
  start: (context) => startNodePeer(context, 'wasm-proto', 'wasm-proto-server.ts', {}),
};
