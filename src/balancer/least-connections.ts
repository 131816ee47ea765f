/**
 * Least connections for TCP listeners: least-request's weighted power of two
 * choices (least-request.ts) under its own name, where `inflight` counts open
 * connections instead of requests.
 */
import { LeastRequestBalancer } from './least-request.js';
import type { RandomSource } from './tried.js';

export class LeastConnectionsBalancer extends LeastRequestBalancer {
  override readonly name: string = 'least-connections';
}

export function createLeastConnections(options: { random?: RandomSource } = {}): LeastConnectionsBalancer {
  return new LeastConnectionsBalancer(options.random);
}
