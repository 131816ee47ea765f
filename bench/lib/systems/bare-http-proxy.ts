/** bare http-proxy: keep-alive agent per backend, round-robin; the engine's floor. */
import { nodePeerSystem } from './node-peer.js';

export const bareHttpProxy = nodePeerSystem('bare-http-proxy', 'bare http-proxy + keep-alive agent', 'bare-http-proxy-server.ts');
