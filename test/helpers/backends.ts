/**
 * Real HTTP backends for proxy tests, on 127.0.0.1 port 0. The echo backend
 * answers with JSON {method, url, headers, body length/sha} or streams the body
 * back; behaviour per request is steered by the `x-test` request header:
 *   x-test: slow=MS      wait MS before sending the head
 *   x-test: hang         never answer
 *   x-test: reset        destroy the socket without answering
 *   x-test: echo-body    stream the request body back as the response body
 *   x-test: big=N        answer N bytes of a deterministic pattern
 * and `failOn` makes the Nth request (1-based) answer 500.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface EchoReply {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  bodyBytes: number;
  bodySha256: string;
  backend: string;
}

export interface Backend {
  readonly name: string;
  readonly port: number;
  readonly address: string;
  /** Requests received so far. */
  readonly requests: number;
  /** Currently open client (i.e. proxy) connections. */
  openConnections(): number;
  close(): Promise<void>;
}

export interface BackendOptions {
  name?: string;
  /** Answer 500 on these 1-based request numbers. */
  failOn?: number[];
  keepAliveTimeout?: number;
  /** Called as each request's head arrives, before it is answered (lets a test act once a request reached the backend). */
  onRequest?: (req: http.IncomingMessage) => void;
}

export async function startBackend(options: BackendOptions = {}): Promise<Backend> {
  const name = options.name ?? 'backend';
  const sockets = new Set<Socket>();
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    const n = requests;
    options.onRequest?.(req);
    const mode = String(req.headers['x-test'] ?? '');
    if (mode === 'hang') return;
    if (mode === 'reset') {
      req.socket.destroy();
      return;
    }
    if (mode === 'echo-body') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-backend': name });
      req.pipe(res);
      return;
    }
    if (mode.startsWith('big=')) {
      const size = Number(mode.slice(4));
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
      writePattern(res, size);
      return;
    }
    const hash = createHash('sha256');
    let bodyBytes = 0;
    req.on('data', (chunk: Buffer) => {
      bodyBytes += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => {
      const reply: EchoReply = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        bodyBytes,
        bodySha256: hash.digest('hex'),
        backend: name,
      };
      const send = (): void => {
        const status = options.failOn?.includes(n) ? 500 : 200;
        res.writeHead(status, {
          'content-type': 'application/json',
          'x-backend': name,
          // Hop-by-hop headers the proxy must not pass on.
          'keep-alive': 'timeout=77',
          'x-hop': 'dropme',
          connection: 'keep-alive, x-hop',
        });
        res.end(JSON.stringify(reply));
      };
      const slow = /^slow=(\d+)$/.exec(mode);
      if (slow) setTimeout(send, Number(slow[1]));
      else send();
    });
  });
  server.keepAliveTimeout = options.keepAliveTimeout ?? 5_000;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    name,
    port,
    address: `127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    openConnections: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/** Byte i of the pattern is (i * 31 + 7) & 0xff. */
export function pattern(size: number, offset = 0): Buffer {
  const buf = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) buf[i] = ((offset + i) * 31 + 7) & 0xff;
  return buf;
}

/** The full 64 KiB chunk of the pattern: every chunk at a multiple of 64 KiB is the same (period 256). */
const PATTERN_CHUNK = pattern(64 * 1024);

function writePattern(res: http.ServerResponse, size: number): void {
  const chunk = PATTERN_CHUNK.length;
  let sent = 0;
  const pump = (): void => {
    while (sent < size) {
      const n = Math.min(chunk, size - sent);
      // Full chunks are shared (not built per write): a download-heavy test stays cheap on a loaded machine.
      const ok = res.write(n === chunk ? PATTERN_CHUNK : pattern(n, sent));
      sent += n;
      if (!ok) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}
