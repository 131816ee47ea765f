/** Ports for tests: a free one to listen on, and a dead one that refuses connections. */
import { readFileSync } from 'node:fs';
import net from 'node:net';

/** A port that was free a moment ago (bind port 0, read it, close). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A port nothing listens on, and nothing will: connecting to it gets ECONNREFUSED. It is taken
 * below the kernel's ephemeral range, so no listener on port 0 (every other test server) can be
 * given it later (a freed ephemeral port was, once: a retry test then reached another proxy).
 */
export async function deadPort(): Promise<number> {
  const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  const below = Math.max(2_000, Math.min(low ?? 32_768, 32_768));
  for (let attempt = 0; ; attempt++) {
    const port = 1_024 + Math.floor(Math.random() * (below - 1_024));
    if (await refuses(port)) return port;
    if (attempt === 50) throw new Error('no dead port found below the ephemeral range');
  }
}

/** A connection to the port is refused (nothing listens there). */
function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/** A port below the Redis Cluster limit (bus port = port + 10000 must stay ≤ 65535). */
export async function freeClusterPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port <= 55_535) return port;
  }
}
