/** Ports for tests: a free one to listen on, and a dead one that refuses connections. */
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

/** A port nothing listens on: connecting to it gets ECONNREFUSED. */
export const deadPort = freePort;

/** A port below the Redis Cluster limit (bus port = port + 10000 must stay ≤ 65535). */
export async function freeClusterPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port <= 55_535) return port;
  }
}
