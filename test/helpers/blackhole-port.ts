/**
 * A loopback port where a TCP connect never completes, for connect-timeout tests.
 *
 * Measured on Linux (tcp_abort_on_overflow=0, the default): a listener with
 * `backlog: 1` in a SIGSTOPped child process completes two handshakes into its
 * accept queue and then drops every further SYN, so the third connect stays
 * pending (the client retransmits SYNs until its own timeout) instead of being
 * refused. The listener lives in a child because a Node server in this process
 * would accept (and so never fill its queue); SIGSTOP makes sure it never accepts.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';

export interface BlackholePort {
  readonly port: number;
  /** `127.0.0.1:PORT`. */
  readonly address: string;
  close(): Promise<void>;
}

const LISTENER = `
const server = require('node:net').createServer(() => {});
server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => process.stdout.write(server.address().port + '\\n'));`;

/** How long a filler connect may take; a completed handshake on loopback takes well under a millisecond. */
const FILL_CONNECT_MS = 200;

export async function blackholePort(): Promise<BlackholePort> {
  const child = spawn(process.execPath, ['-e', LISTENER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
  });
  child.kill('SIGSTOP');
  // Fill the accept queue until a connect no longer completes.
  const fillers: net.Socket[] = [];
  for (;;) {
    const socket = net.connect({ host: '127.0.0.1', port });
    fillers.push(socket);
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), FILL_CONNECT_MS);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(true);
      });
      socket.once('error', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (!connected) break;
    if (fillers.length > 16) throw new Error('the accept queue never filled: connects do not hang on this machine');
  }
  return {
    port,
    address: `127.0.0.1:${port}`,
    async close() {
      for (const socket of fillers) socket.destroy();
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    },
  };
}
