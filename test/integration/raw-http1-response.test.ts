/**
 * The raw HTTP/1.1 listener's response (src/proxy/raw-http1/response.ts) on its own: a real
 * listening socket served by RawHttp1Connections, a request listener that answers the way each
 * case needs, and a real client parsing the bytes with llhttp. The framing must be what node:http
 * would send: a length when end() has the whole body, chunks otherwise, trailers after the last
 * chunk, no body where HTTP allows none, a refused head that sends nothing and leaves the response open.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RawHttp1Connections } from '../../src/proxy/raw-http1/connection.js';
import type { RawResponse } from '../../src/proxy/raw-http1/response.js';
import { Client } from '../helpers/http1-client.js';

type Answerer = (req: IncomingMessage, res: ServerResponse) => void;

describe('the raw HTTP/1.1 response', () => {
  let server: net.Server;
  let port: number;
  let answer: Answerer = () => {};
  let client: Client | undefined;

  beforeEach(async () => {
    const connections = new RawHttp1Connections(
      {
        onRequest: (req, res) => answer(req, res),
        onClientError: (_err, socket) => socket.destroy(),
        handOff: (socket) => socket.destroy(),
      },
      { maxHeaderBytes: 16 * 1024, headersTimeout: 5_000, keepAliveTimeout: 5_000, idleTimeout: 10_000, requestTimeout: 30_000 },
      100,
    );
    server = net.createServer((socket) => connections.accept(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  afterEach(async () => {
    client?.close();
    await new Promise((resolve) => server.close(resolve));
  });

  const request = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: t\r\n\r\n`;

  it('sends a Content-Length when end() has the whole body, and chunks a body written in parts', async () => {
    answer = (req, res) => {
      if (req.url === '/whole') res.end('whole body');
      else {
        res.write('part one, ');
        res.end('part two');
      }
    };
    client = new Client(port);
    client.send(request('/whole') + request('/parts'), 'GET', 'GET');
    const whole = await client.answer(1);
    const parts = await client.answer(2);
    expect(whole.headers['content-length']).toBe('10');
    expect(whole.body).toBe('whole body');
    expect(parts.headers['transfer-encoding']).toBe('chunked');
    expect(parts.body).toBe('part one, part two');
  });

  it('writes trailers after the last chunk', async () => {
    answer = (_req, res) => {
      res.writeHead(200, ['content-type', 'text/plain', 'trailer', 'x-checksum']);
      res.write('data');
      res.addTrailers({ 'x-checksum': 'abc123' });
      res.end();
    };
    client = new Client(port);
    client.send(request('/t'));
    expect((await client.answer(1)).body).toBe('data');
    expect(client.received).toContain('0\r\nx-checksum: abc123\r\n\r\n');
  });

  it('sends no body with 204 and 304, even when one is given, and the next answer still parses', async () => {
    answer = (req, res) => {
      if (req.url === '/none') {
        res.statusCode = 204;
        res.end('ignored');
      } else if (req.url === '/same') {
        res.writeHead(304, ['etag', '"v1"']);
        res.end();
      } else res.end('after');
    };
    client = new Client(port);
    client.send(request('/none') + request('/same') + request('/next'), 'GET', 'GET', 'GET');
    const [none, same, next] = [await client.answer(1), await client.answer(2), await client.answer(3)];
    expect(none.status).toBe(204);
    expect(none.headers['content-length']).toBeUndefined();
    expect(same.status).toBe(304);
    expect(next.body).toBe('after');
    expect(client.received).not.toContain('ignored');
  });

  it('refuses a head with a CR or LF in a field, sends nothing of it, and can still answer', async () => {
    let refused: unknown;
    answer = (_req, res) => {
      try {
        res.writeHead(200, ['x-split', 'a\r\nx-injected: 1']);
      } catch (err) {
        refused = err;
      }
      res.statusCode = 502;
      res.end('fallback');
    };
    client = new Client(port);
    client.send(request('/bad'));
    const fallback = await client.answer(1);
    expect((refused as NodeJS.ErrnoException).code).toBe('ERR_INVALID_CHAR');
    expect(fallback.status).toBe(502);
    expect(fallback.body).toBe('fallback');
    expect(client.received).not.toContain('x-injected');
  });

  it('closes the connection after an answer whose head says close, and emits finish then close', async () => {
    const events: string[] = [];
    answer = (_req, res) => {
      res.on('finish', () => events.push('finish'));
      res.on('close', () => events.push('close'));
      res.setHeader('connection', 'close');
      res.end('bye');
    };
    client = new Client(port);
    client.send(request('/bye'));
    expect((await client.answer(1)).headers.connection).toBe('close');
    await client.closing();
    expect(events).toEqual(['finish', 'close']);
  });

  it('sends a corked head and small body with the end in one socket write; a large or second chunk flushes what waits', async () => {
    const writes: Record<string, number> = {};
    answer = (req, res) => {
      const path = req.url!;
      // Counted where every write ends, the socket's libuv handle: socket.write's and the direct ones (src/net/direct-write.ts).
      const handle = (res.socket as unknown as { _handle: Record<string, unknown> })._handle;
      const methods = ['writeBuffer', 'writeLatin1String', 'writeUtf8String', 'writev'];
      writes[path] = 0;
      for (const name of methods) {
        const method = handle[name] as (...args: unknown[]) => number;
        handle[name] = function (this: unknown, ...args: unknown[]) {
          writes[path]!++;
          return method.apply(this, args);
        };
      }
      const restore = (): void => {
        for (const name of methods) delete handle[name];
      };
      res.cork();
      if (path === '/small') {
        res.writeHead(200, ['content-length', '5']);
        res.write(Buffer.from('hello'));
        res.end();
      } else if (path === '/large') {
        res.writeHead(200, ['content-length', '20000']);
        res.write(Buffer.alloc(20_000, 'l'));
        res.end();
      } else {
        res.writeHead(200, ['content-length', '10']);
        res.write(Buffer.from('abcde'));
        res.write(Buffer.from('fghij'));
        // Still corked: what the caller writes after uncork goes out too.
        res.uncork();
        res.end();
      }
      if (path !== '/two') res.uncork();
      restore();
    };
    client = new Client(port);
    client.send(request('/small') + request('/large') + request('/two'), 'GET', 'GET', 'GET');
    const [small, large, two] = [await client.answer(1), await client.answer(2), await client.answer(3)];
    expect(small.body).toBe('hello');
    expect(small.headers['content-length']).toBe('5');
    expect(writes['/small']).toBe(1);
    expect(large.body).toBe('l'.repeat(20_000));
    // The spy sees every write: the large body flushed the held head before it.
    expect(writes['/large']).toBeGreaterThanOrEqual(2);
    expect(two.body).toBe('abcdefghij');
    expect(client.closed).toBe(false);
  });
  it('takes a view it may hold only until keepHeld(): the bytes sent are those written, however the view is reused after', async () => {
    const sent = Buffer.alloc(3000, 'v');
    answer = (req, res) => {
      const raw = res as unknown as RawResponse;
      const view = Buffer.from(sent);
      if (req.url === '/corked') {
        // Two cork holders: the first uncork leaves the view held, keepHeld() copies it.
        raw.cork();
        raw.cork();
        raw.writeHead(200, ['content-length', String(view.length)]);
        raw.writeTransient(view);
        raw.uncork();
        raw.keepHeld();
        view.fill('x');
        raw.uncork();
        raw.end();
      } else {
        // Not corked: copied before it is written.
        raw.writeHead(200, ['content-length', String(view.length)]);
        raw.writeTransient(view);
        view.fill('y');
        raw.end();
      }
    };
    client = new Client(port);
    client.send(request('/corked') + request('/plain'), 'GET', 'GET');
    expect((await client.answer(1)).body).toBe(sent.toString());
    expect((await client.answer(2)).body).toBe(sent.toString());
  });

  it('is an EventEmitter without its constructor: listeners, once, listenerCount, an unheard error throws, and a stream pipes into it', async () => {
    const seen: string[] = [];
    let checks: (() => void) | undefined;
    answer = (req, res) => {
      const response = res as unknown as RawResponse;
      checks = () => {
        expect(response).toBeInstanceOf(EventEmitter);
        // No listener yet: nothing made, nothing heard.
        expect(response.listenerCount('finish')).toBe(0);
        expect(response.emit('custom')).toBe(false);
        expect(() => response.emit('error', new Error('nobody listens'))).toThrow('nobody listens');
      };
      checks();
      const onCustom = (): void => void seen.push('custom');
      response.on('custom', onCustom);
      response.once('finish', () => seen.push('finish'));
      response.on('close', () => seen.push('close'));
      expect(response.emit('custom')).toBe(true);
      response.removeListener('custom', onCustom);
      expect(response.emit('custom')).toBe(false);
      expect(response.listenerCount('finish')).toBe(1);
      if (req.url === '/piped') Readable.from([Buffer.from('piped '), Buffer.from('body')]).pipe(res);
      else res.end('plain');
    };
    client = new Client(port);
    client.send(request('/plain') + request('/piped'), 'GET', 'GET');
    expect((await client.answer(1)).body).toBe('plain');
    const piped = await client.answer(2);
    expect(piped.body).toBe('piped body');
    expect(piped.headers['transfer-encoding']).toBe('chunked');
    expect(seen).toEqual(['custom', 'finish', 'close', 'custom', 'finish', 'close']);
    expect(checks).toBeDefined();
  });
});
