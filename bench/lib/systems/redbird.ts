/** redbird 1.0.2 (Node peer, a dev dependency of the bench only). Matches on host 127.0.0.1. */
import { createRequire } from 'node:module';
import { freePort } from '../../../test/helpers/ports.js';
import type { SystemDefinition } from '../system.js';
import { waitForPort } from '../processes.js';
import { startNodePeer } from './node-peer.js';

export const redbird: SystemDefinition = {
  id: 'redbird',
  label: 'redbird',
  unavailable: async () => {
    try {
      createRequire(import.meta.url).resolve('redbird/package.json');
      return undefined;
    } catch {
      return 'redbird is not installed (npm install --save-dev redbird@1.0.2)';
    }
  },
  start: async (context) => {
    const running = await startNodePeer(context, 'redbird', 'redbird-server.ts', { port: await freePort() });
    await waitForPort(running.port, 10_000);
    return running;
  },
};
