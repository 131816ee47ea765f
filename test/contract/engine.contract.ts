/**
 * The ForwardEngine contract (src/proxy/forwarder.ts): the same cases for every
 * engine, against real backends on ephemeral ports. A bare front server hands
 * each client request straight to `engine.forward` (no router, no handler), so a
 * case shows what the engine itself does; a proxy-made 502 stands in for the
 * handler when an attempt fails before any byte was sent.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import net, { type AddressInfo, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../src/endpoint.js';
import { UPSTREAM_IDLE_TIMEOUT_MS, type AttemptOptions, type AttemptResult, type ForwardEngine } from '../../src/proxy/forwarder.js';
import type { RouteTimeouts } from '../../src/routing/route.js';
import { pattern, startBackend, type Backend, type EchoReply } from '../helpers/backends.js';
import { record } from '../helpers/endpoints.js';
import { deadPort } from '../helpers/ports.js';
import { eventually } from '../helpers/eventually.js';

const HOP_BY_HOP = /^(connection|keep-alive|transfer-encoding)$/i;
const TIMEOUTS: RouteTimeouts = { connect: 1_000, header: 2_000, idle: 10_000 };

/** How the front server sends the next request: buffered body or streamed, timeouts. */
interface Plan {
  bufferBody: boolean;
  timeouts: RouteTimeouts;
}

interface Front {
  port: number;
  results: AttemptResult[];
  /** Raw upstream header lists handed to writeHead, one per attempt that got a head. */
  heads: string[][];
  plan: Plan;
  /** Resolves with the next attempt's result. */
  nextResult(): Promise<AttemptResult>;
  close(): Promise<void>;
}

function endpointFor(port: number): Endpoint {
  const instance = record('contract', `i${port}`, { host: '127.0.0.1', port });
  return { key: `contract/${instance.id}`, instance, address: `127.0.0.1:${port}`, weight: 100, stats: { inflight: 0 } };
}

function readAll(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function startFront(engine: ForwardEngine, target: () => Endpoint): Promise<Front> {
  const waiting: ((r: AttemptResult) => void)[] = [];
  const front: Front = {
    port: 0,
    results: [],
    heads: [],
    plan: { bufferBody: true, timeouts: TIMEOUTS },
    nextResult: () => new Promise((resolve) => waiting.push(resolve)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer(async (req, res) => {
    const { bufferBody, timeouts } = front.plan;
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    const body = hasBody && bufferBody ? await readAll(req) : undefined;
    const headers = { ...req.headers };
    delete headers.connection;
    const attempt: AttemptOptions = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers,
      body,
      streamBody: hasBody && !bufferBody,
      timeouts,
      signal: undefined,
      writeHead(status, upstreamHeaders) {
        front.heads.push([...upstreamHeaders]);
        const head: string[] = [];
        for (let i = 0; i < upstreamHeaders.length; i += 2) {
          if (!HOP_BY_HOP.test(upstreamHeaders[i]!)) head.push(upstreamHeaders[i]!, upstreamHeaders[i + 1]!);
        }
        res.writeHead(status, head);
        return res;
      },
    };
    const result = await engine.forward(req, res, target(), attempt);
    front.results.push(result);
    if (!result.sent && !result.aborted && !res.headersSent) {
      res.statusCode = 502;
      res.end(result.error ?? '');
    }
    waiting.shift()?.(result);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  front.port = (server.address() as AddressInfo).port;
  return front;
}

interface Reply {
  status: number;
  rawHeaders: string[];
  body: Buffer;
}

function send(port: number, options: { path?: string; method?: string; headers?: http.OutgoingHttpHeaders; body?: Buffer }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: options.path ?? '/', method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A backend whose one route is given per case. */
async function rawBackend(handler: http.RequestListener, keepAliveMs?: number): Promise<{ port: number; open: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = http.createServer(handler);
  if (keepAliveMs !== undefined) server.keepAliveTimeout = keepAliveMs;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    open: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Runs the engine contract for one engine; `create` makes a fresh engine per case. */
export function runEngineContract(name: string, create: () => ForwardEngine): void {
  describe(`ForwardEngine contract: ${name}`, () => {
    let echo: Backend;
    let engine: ForwardEngine;
    let front: Front | undefined;
    let target: Endpoint;

    beforeAll(async () => {
      echo = await startBackend({ name: 'echo' });
    });
    afterAll(async () => {
      await echo.close();
    });
    afterEach(async () => {
      await front?.close();
      front = undefined;
      await engine?.close();
    });

    async function frontTo(port: number): Promise<Front> {
      engine = create();
      target = endpointFor(port);
      front = await startFront(engine, () => target);
      return front;
    }

    it('round-trips a GET and a POST with the body intact, buffered or streamed', async () => {
      const f = await frontTo(echo.port);
      const get = await send(f.port, { path: '/items?x=1' });
      expect(get.status).toBe(200);
      expect((JSON.parse(get.body.toString()) as EchoReply).url).toBe('/items?x=1');
      expect(f.results[0]).toMatchObject({ status: 200, sent: true, error: undefined, aborted: false });

      for (const bufferBody of [true, false]) {
        f.plan = { bufferBody, timeouts: TIMEOUTS };
        const body = pattern(256 * 1024);
        const post = await send(f.port, { method: 'POST', path: '/upload', body, headers: { 'content-type': 'application/octet-stream' } });
        const reply = JSON.parse(post.body.toString()) as EchoReply;
        expect(reply.method).toBe('POST');
        expect(reply.bodyBytes).toBe(body.length);
        expect(reply.bodySha256).toBe(sha256(body));
      }
    });

    it('passes raw response headers on in order, duplicates included', async () => {
      const backend = await rawBackend((_req, res) => {
        res.writeHead(200, ['x-first', '1', 'Set-Cookie', 'a=1; Path=/', 'x-middle', '2', 'Set-Cookie', 'b=2; Path=/', 'content-length', '2']);
        res.end('ok');
      });
      try {
        const f = await frontTo(backend.port);
        const reply = await send(f.port, {});
        const ours = (list: string[]): string[] =>
          list.flatMap((v, i) => (i % 2 === 0 && /^(x-first|set-cookie|x-middle)$/i.test(v) ? [`${v.toLowerCase()}: ${list[i + 1]}`] : []));
        const expected = ['x-first: 1', 'set-cookie: a=1; Path=/', 'x-middle: 2', 'set-cookie: b=2; Path=/'];
        expect(ours(f.heads[0]!)).toEqual(expected);
        expect(ours(reply.rawHeaders)).toEqual(expected);
      } finally {
        await backend.close();
      }
    });

    it('reports a refused connect as connect_refused with nothing sent', async () => {
      const f = await frontTo(await deadPort());
      const reply = await send(f.port, {});
      expect(reply.status).toBe(502);
      expect(f.results[0]).toMatchObject({ sent: false, error: 'connect_refused', aborted: false });
    });

    it('reports a backend slower than the header timeout as header_timeout with nothing sent', async () => {
      const f = await frontTo(echo.port);
      f.plan = { bufferBody: true, timeouts: { ...TIMEOUTS, header: 200 } };
      const reply = await send(f.port, { headers: { 'x-test': 'hang' } });
      expect(reply.status).toBe(502);
      expect(f.results[0]).toMatchObject({ sent: false, error: 'header_timeout', aborted: false });
    });

    it('sets no limit for a timeout of 0 (connect, header, idle), as a socket timeout of 0 does', async () => {
      const f = await frontTo(echo.port);
      f.plan = { bufferBody: true, timeouts: { connect: 0, header: 0, idle: 0 } };
      const reply = await send(f.port, { headers: { 'x-test': 'slow=300' } });
      expect(reply.status).toBe(200);
      expect(f.results[0]).toMatchObject({ status: 200, sent: true, error: undefined, aborted: false });
    });

    it('reports an upstream reset mid-body as an error after bytes were sent', async () => {
      const backend = await rawBackend((_req, res) => {
        res.writeHead(200, { 'content-length': 1024 * 1024 });
        res.write(pattern(64 * 1024), () => setTimeout(() => res.socket?.destroy(), 50));
      });
      try {
        const f = await frontTo(backend.port);
        const result = f.nextResult();
        await send(f.port, {}).catch(() => undefined);
        expect(await result).toMatchObject({ status: 200, sent: true, aborted: false });
        expect((await result).error).toBeDefined();
      } finally {
        await backend.close();
      }
    });

    it.each([
      ['Content-Length', { 'content-length': 1024 * 1024 }],
      ['chunked', { 'transfer-encoding': 'chunked' }],
    ])('reports a %s body that stalls past the idle timeout as idle_timeout after bytes were sent', async (_framing, headers) => {
      // DESIGN §5: timeouts connect, response-header and idle; the idle one guards the gaps in a body.
      const backend = await rawBackend((_req, res) => {
        res.writeHead(200, headers);
        res.write(pattern(1024));
      });
      try {
        const f = await frontTo(backend.port);
        // The head timeout stays long: only the idle timeout can end this attempt within the bound below.
        f.plan = { bufferBody: true, timeouts: { ...TIMEOUTS, header: 10_000, idle: 300 } };
        const result = f.nextResult();
        const started = Date.now();
        await send(f.port, {}).catch(() => undefined);
        expect(await result).toMatchObject({ status: 200, sent: true, error: 'idle_timeout', aborted: false });
        expect(Date.now() - started).toBeLessThan(5_000);
      } finally {
        await backend.close();
      }
    });

    it('reports a client abort as aborted and leaves no upstream socket behind', async () => {
      const backend = await rawBackend((_req, res) => {
        res.writeHead(200, { 'content-length': 64 * 1024 * 1024 });
        const pump = (): void => {
          while (res.write(pattern(64 * 1024)));
          res.once('drain', pump);
        };
        pump();
      });
      try {
        const f = await frontTo(backend.port);
        const result = f.nextResult();
        const client = net.connect(f.port, '127.0.0.1');
        client.on('error', () => {});
        client.write('GET /download HTTP/1.1\r\nhost: contract.test\r\n\r\n');
        client.once('data', () => client.destroy());
        expect(await result).toMatchObject({ aborted: true });
        await eventually(() => expect(backend.open()).toBe(0));
        await eventually(() => expect(engine.stats()).toEqual({ sockets: 0, pending: 0 }));
      } finally {
        await backend.close();
      }
    });

    it('a client that stops reading stops the upstream; reading again delivers every byte', async () => {
      const total = 64 * 1024 * 1024;
      const chunk = Buffer.alloc(64 * 1024, 'x');
      let written = 0;
      const backend = await rawBackend((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
        const pump = (): void => {
          while (written < total) {
            written += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
      });
      const socket = net.connect((await frontTo(backend.port)).port, '127.0.0.1');
      try {
        socket.write('GET /big HTTP/1.1\r\nhost: contract.test\r\nconnection: close\r\n\r\n');
        let received = 0;
        await new Promise<void>((resolve) => {
          const onData = (data: Buffer): void => {
            received += data.length;
            if (received < 1024 * 1024) return;
            socket.off('data', onData);
            socket.pause();
            resolve();
          };
          socket.on('data', onData);
        });
        // Let everything that can flow, flow; then the backend must be stuck well short of the end.
        let before = -1;
        for (let i = 0; i < 50 && written !== before; i++) {
          before = written;
          await sleep(100);
        }
        const stalledAt = written;
        expect(stalledAt).toBeLessThan(total / 2);
        await sleep(300);
        expect(written).toBe(stalledAt);

        const done = new Promise<void>((resolve, reject) => {
          socket.on('data', (data: Buffer) => (received += data.length));
          socket.once('end', resolve);
          socket.once('error', reject);
        });
        socket.resume();
        await done;
        expect(written).toBe(total);
        expect(received).toBeGreaterThan(total);
        expect(received).toBeLessThan(total + 4096);
      } finally {
        socket.destroy();
        await backend.close();
      }
    }, 60_000);

    it('closes an upstream connection parked past its idle limit, before a 5 s backend keep-alive would', async () => {
      // The backend keeps idle connections for a minute: only the engine's own limit can close this one.
      const backend = await rawBackend((_req, res) => res.end('ok'), 60_000);
      try {
        const f = await frontTo(backend.port);
        expect((await send(f.port, {})).status).toBe(200);
        await eventually(() => expect(backend.open()).toBe(1));
        // DESIGN: an idle timeout below the backend's (Node's default keep-alive is 5 s); bounded generously.
        await eventually(() => expect(backend.open()).toBe(0), UPSTREAM_IDLE_TIMEOUT_MS + 3_000, 50);
        await eventually(() => expect(engine.stats().sockets).toBe(0));
        // The next request opens a new connection and is answered.
        expect((await send(f.port, {})).status).toBe(200);
        expect(backend.open()).toBe(1);
      } finally {
        await backend.close();
      }
    }, 20_000);

    it('counts its upstream sockets in stats() and drops them on close()', async () => {
      const f = await frontTo(echo.port);
      expect(engine.stats()).toEqual({ sockets: 0, pending: 0 });
      await send(f.port, {});
      await eventually(() => expect(engine.stats()).toEqual({ sockets: 1, pending: 0 }));
      await engine.close();
      await eventually(() => expect(engine.stats().sockets).toBe(0));
    });
  });
}

/**
 * A refused answer (writeHead returns undefined, as for a status-code retry): the engine reads
 * the upstream body to its end, drops it, resolves `{ sent: false, error: undefined }`, and the
 * next request to the same instance goes over the same upstream connection. Also here, as it
 * runs for the HTTP/2 engine too: a timeout of 0 sets no limit.
 * `protocol`: what the backend speaks (HTTP/1.1, or h2c for the HTTP/2 engine).
 */
export function runRefusedAnswerContract(name: string, create: () => ForwardEngine, protocol: 'http1' | 'h2c'): void {
  describe(`ForwardEngine contract, refused answers: ${name}`, () => {
    it('drains a refused answer, reports it unsent, and the upstream connection serves the next request', async () => {
      const refusedBody = pattern(200 * 1024);
      await withBackendAndFront(
        protocol,
        create,
        TIMEOUTS,
        (path, respond) => {
          if (path === '/refuse') respond(503, refusedBody);
          else respond(200, Buffer.from('fine'));
        },
        async (frontPort, results, connections) => {
          const refused = await send(frontPort, { path: '/refuse' });
          expect(refused.status).toBe(299);
          expect(refused.body.toString()).toBe('refused');
          expect(results[0]).toMatchObject({ status: 503, sent: false, error: undefined, aborted: false });
          const next = await send(frontPort, { path: '/ok' });
          expect(next.status).toBe(200);
          expect(next.body.toString()).toBe('fine');
          expect(results[1]).toMatchObject({ status: 200, sent: true, error: undefined });
          expect(connections()).toBe(1);
        },
      );
    });

    it('sets no limit for a timeout of 0 (connect, header)', async () => {
      await withBackendAndFront(
        protocol,
        create,
        { connect: 0, header: 0, idle: 0 },
        (_path, respond) => setTimeout(() => respond(200, Buffer.from('late')), 300),
        async (frontPort, results) => {
          const reply = await send(frontPort, { path: '/late' });
          expect(reply.status).toBe(200);
          expect(reply.body.toString()).toBe('late');
          expect(results[0]).toMatchObject({ status: 200, sent: true, error: undefined });
        },
      );
    });
  });
}

/**
 * A backend speaking `protocol` whose answers `answer` gives, and a bare front server that hands
 * each request to a fresh engine with `timeouts` (a 503 is refused: the front answers 299); runs
 * `check` with the front's port, the attempt results and the backend's connection count, then
 * closes everything.
 */
async function withBackendAndFront(
  protocol: 'http1' | 'h2c',
  create: () => ForwardEngine,
  timeouts: RouteTimeouts,
  answer: (path: string | undefined, respond: (status: number, body: Buffer) => void) => void,
  check: (frontPort: number, results: AttemptResult[], connections: () => number) => Promise<void>,
): Promise<void> {
  let connections = 0;
  const backend =
    protocol === 'h2c'
      ? http2.createServer((req, res) => answer(req.url, (status, body) => res.writeHead(status, { 'content-length': body.length }).end(body)))
      : http.createServer((req, res) => answer(req.url, (status, body) => res.writeHead(status, { 'content-length': body.length }).end(body)));
  backend.on(protocol === 'h2c' ? 'session' : 'connection', () => connections++);
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const port = (backend.address() as AddressInfo).port;
  const instance = record('contract', `i${port}`, { host: '127.0.0.1', port, protocol });
  const endpoint: Endpoint = { key: `contract/${instance.id}`, instance, address: `127.0.0.1:${port}`, weight: 100, stats: { inflight: 0 } };
  const engine = create();
  const results: AttemptResult[] = [];
  const front = http.createServer(async (req, res) => {
    const attempt: AttemptOptions = {
      method: 'GET',
      path: req.url ?? '/',
      headers: { host: 'contract.test' },
      body: undefined,
      streamBody: false,
      timeouts,
      signal: undefined,
      writeHead(status, upstreamHeaders) {
        if (status === 503) return undefined;
        const head: string[] = [];
        for (let i = 0; i < upstreamHeaders.length; i += 2) {
          if (!HOP_BY_HOP.test(upstreamHeaders[i]!)) head.push(upstreamHeaders[i]!, upstreamHeaders[i + 1]!);
        }
        res.writeHead(status, head);
        return res;
      },
    };
    const result = await engine.forward(req, res, endpoint, attempt);
    results.push(result);
    if (!result.sent && !res.headersSent) res.writeHead(299).end('refused');
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const frontPort = (front.address() as AddressInfo).port;
  try {
    await check(frontPort, results, () => connections);
  } finally {
    front.closeAllConnections();
    await new Promise<void>((resolve) => front.close(() => resolve()));
    await engine.close();
    if ('closeAllConnections' in backend) backend.closeAllConnections();
    await new Promise<void>((resolve) => backend.close(() => resolve()));
  }
}
