/**
 * Child process: a floor below the raw prototype (issue 21). A plain TCP relay on `net` sockets:
 * each client connection gets its own upstream connection (round-robin over the backends) and
 * bytes are copied both ways, with backpressure, without parsing anything. An HTTP/1.1
 * keep-alive request through it costs what Node's sockets, streams and event loop cost for two
 * reads and two writes: no proxy on net.Socket can do less per request.
 * Self-contained (plain JavaScript at run time).
 */
import net, { type AddressInfo, type Socket } from 'node:net';

const config = JSON.parse(process.env.BENCH_CHILD_CONFIG ?? '{}') as { backends: number[] };
let next = 0;

/** Copies `from`'s bytes to `to`, pausing `from` while `to` is full. */
function relay(from: Socket, to: Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}

const server = net.createServer({ noDelay: true }, (client) => {
  const port = config.backends[next]!;
  next = (next + 1) % config.backends.length;
  const upstream = net.connect({ port, host: '127.0.0.1', noDelay: true });
  relay(client, upstream);
  relay(upstream, client);
  const closeBoth = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', closeBoth).on('close', closeBoth);
  upstream.on('error', closeBoth).on('close', closeBoth);
});
server.listen({ port: 0, host: '127.0.0.1', backlog: 1024 }, () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
