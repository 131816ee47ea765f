/** The raw-socket llhttp prototype (issue 21): what HTTP/1.1 proxying costs below node:http. */
import { nodePeerSystem } from './node-peer.js';

export const rawPrototype = nodePeerSystem('raw-proto', 'raw llhttp prototype', 'raw-proxy-server.ts');

/** node:http on the client side, the prototype's raw upstream side: node:http's server cost per request against raw-proto. */
export const httpRawUpstream = nodePeerSystem('http-raw-upstream', 'node:http + raw upstream (bench only)', 'http-raw-upstream-server.ts');

/** The design the README proposes below the raw prototype: libuv handles, llhttp (WebAssembly) offsets, heads spliced as bytes. */
export const wasmPrototype = nodePeerSystem('wasm-proto', 'handle + wasm llhttp prototype (bench only)', 'wasm-proto-server.ts');
