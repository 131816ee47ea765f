/** bare undici: `Pool.stream` per backend, round-robin; the engine's floor. */
import { nodePeerSystem } from './node-peer.js';

export const bareUndici = nodePeerSystem('bare-undici', 'bare undici Pool.stream', 'bare-undici-server.ts');
