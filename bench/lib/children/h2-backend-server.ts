/**
 * Child process: the HTTP/2 (h2c) backends of `bench/h2.ts`, two node:http2 servers in one
 * process. Self-contained (run as plain JavaScript by ProcessGroup.startNodeScript).
 *
 * - a gRPC call (`content-type: application/grpc…`) is answered like a unary Echo: the request's
 *   length-prefixed message back as the reply, then the trailer `grpc-status: 0`;
 * - anything else gets the same 100 B text body as the HTTP/1.1 backends.
 *
 * A minimal gRPC server on purpose: @grpc/grpc-js costs several times more CPU per call, and the
 * backends share the load core with h2load, so a heavier server would cap every proxy alike.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

const config = JSON.parse(process.env.BENCH_CHILD_CONFIG ?? '{}') as { count?: number };
const small = Buffer.alloc(100, 'a');
/** Far above any request the bench sends: a runaway body is cut, not buffered. */
const MAX_GRPC_BODY = 64 * 1024;

function answerGrpc(stream: http2.ServerHttp2Stream): void {
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_GRPC_BODY) stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    else chunks.push(chunk);
  });
  stream.on('end', () => {
    if (stream.destroyed) return;
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(Buffer.concat(chunks, size));
  });
}

function handle(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  // A client that resets its stream (end of a run) is not an error here.
  stream.on('error', () => {});
  if (String(headers['content-type'] ?? '').startsWith('application/grpc')) return answerGrpc(stream);
  stream.resume();
  stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': small.length });
  stream.end(small);
}

async function listen(): Promise<number> {
  const server = http2.createServer({ maxSessionMemory: 64 });
  server.on('stream', handle);
  server.on('sessionError', () => {});
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 1024 }, resolve));
  return (server.address() as AddressInfo).port;
}

const ports: number[] = [];
for (let i = 0; i < (config.count ?? 2); i++) ports.push(await listen());
process.stdout.write(`${JSON.stringify({ ready: true, ports })}\n`);
process.on('SIGTERM', () => process.exit(0));
