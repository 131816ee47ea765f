/**
 * `compress` (issue 18 item 6) end to end through a whole Waypost in this process: both
 * HTTP/1.1 engines, an HTTP/2 client, an h2c instance (the HTTP/2 engine), server-sent
 * events flushed per event, a large body to a client that stops reading (backpressure
 * reaches the upstream), and a client that leaves mid-stream (no compressor left behind).
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { ONE_SHOT_MAX_BYTES } from '../../src/policy/compress.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { ENGINES } from './proxy-harness.js';

const TEXT = Buffer.from('Waypost compresses text answers on the way to the client. '.repeat(200));
/** Known length above ONE_SHOT_MAX_BYTES: streamed through a compressor instead of compressed in one call. */
const LONG_TEXT = Buffer.from(Array.from({ length: 4000 }, (_, i) => `line ${i}: streamed when longer than the one-shot limit\n`).join(''));
/** 1 MiB of base64 text: compresses only ~25 % with gzip (its 32 KiB window sees no repeats), so bytes stay bytes. */
const BIG_CHUNK = Buffer.from(Array.from({ length: 16_384 }, (_, i) => createHash('sha256').update(String(i)).digest('base64')).join('').slice(0, 1 << 20));
const BIG_CHUNKS = 64; // 64 MiB

/** A backend of text answers: /text, /sse (held open until released), /big (written with backpressure). */
function textHandler(state: { sse?: http.ServerResponse | http2.Http2ServerResponse; bigWritten: number; bigClosed: boolean }) {
  return (req: http.IncomingMessage | http2.Http2ServerRequest, answer: http.ServerResponse | http2.Http2ServerResponse): void => {
    // Both answer types take these calls; TypeScript cannot unify their overloads.
    const res = answer as http.ServerResponse;
    if (req.url === '/text') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': TEXT.length, etag: '"v1"' });
      res.end(TEXT);
    } else if (req.url === '/long') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': LONG_TEXT.length });
      res.write(LONG_TEXT.subarray(0, 70_000));
      res.end(LONG_TEXT.subarray(70_000));
    } else if (req.url === '/small') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 5 });
      res.end('small');
    } else if (req.url === '/sse') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('data: one\n\n');
      state.sse = res;
    } else if (req.url === '/big') {
      state.bigWritten = 0;
      state.bigClosed = false;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.once('close', () => (state.bigClosed = true));
      const writeMore = (): void => {
        while (state.bigWritten < BIG_CHUNKS) {
          state.bigWritten++;
          const ok = res.write(BIG_CHUNK);
          if (state.bigWritten === BIG_CHUNKS) {
            res.end();
            return;
          }
          if (!ok) {
            res.once('drain', writeMore);
            return;
          }
        }
      };
      writeMore();
    } else {
      res.writeHead(404);
      res.end();
    }
  };
}

interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function get(port: number, host: string, path: string, acceptEncoding: string): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, headers: { host, 'accept-encoding': acceptEncoding } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
  });
}

/**
 * The compressors the proxy (in this process) creates, observed, not replaced: a closed one
 * has given back its native memory (zlib drops `_handle` when it closes).
 */
const compressors: (zlib.Gzip | zlib.BrotliCompress)[] = [];
const createGzip = zlib.createGzip;
const createBrotliCompress = zlib.createBrotliCompress;
/** node:zlib's factories are read-only but configurable properties. */
function replaceFactory(name: 'createGzip' | 'createBrotliCompress', value: unknown): void {
  Object.defineProperty(zlib, name, { value, configurable: true, enumerable: true });
}
function observeCompressors(): void {
  replaceFactory('createGzip', (options?: zlib.ZlibOptions) => record(createGzip(options)));
  replaceFactory('createBrotliCompress', (options?: zlib.BrotliOptions) => record(createBrotliCompress(options)));
}
function record<T extends zlib.Gzip | zlib.BrotliCompress>(stream: T): T {
  compressors.push(stream);
  return stream;
}
const openCompressors = (): number => compressors.filter((stream) => (stream as unknown as { _handle: unknown })._handle != null).length;

describe.each(ENGINES)('compress through the proxy (engine %s)', (engine) => {
  const h1 = { bigWritten: 0, bigClosed: false } as Parameters<typeof textHandler>[0];
  const h2 = { bigWritten: 0, bigClosed: false } as Parameters<typeof textHandler>[0];
  let backend: http.Server;
  let h2Backend: http2.Http2Server;
  let proxy: TestApp;

  beforeAll(async () => {
    observeCompressors();
    backend = http.createServer(textHandler(h1));
    h2Backend = http2.createServer(textHandler(h2));
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => h2Backend.listen(0, '127.0.0.1', resolve));
    const routes: ConfigInput['routes'] = [
      { host: 'zip.test', service: 'text', compress: { minBytes: 1024 } },
      { host: 'h2up.test', service: 'text-h2', compress: {} },
    ];
    proxy = await startApp({ engine, routes });
    await proxy.register({ service: 'text', id: 't1', host: '127.0.0.1', port: (backend.address() as AddressInfo).port });
    await proxy.register({ service: 'text-h2', id: 't2', host: '127.0.0.1', port: (h2Backend.address() as AddressInfo).port, protocol: 'h2c' });
  });

  afterAll(async () => {
    await proxy.stop();
    backend.closeAllConnections();
    await new Promise((resolve) => backend.close(resolve));
    await new Promise((resolve) => h2Backend.close(resolve));
    replaceFactory('createGzip', createGzip);
    replaceFactory('createBrotliCompress', createBrotliCompress);
  });

  it('gzips or brotli-compresses a text answer as negotiated, with Vary and a weak ETag', async () => {
    const gz = await get(proxy.port, 'zip.test', '/text', 'gzip');
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.headers['content-length']).toBeUndefined();
    expect(gz.headers.vary).toBe('Accept-Encoding');
    expect(gz.headers.etag).toBe('W/"v1"');
    expect(zlib.gunzipSync(gz.body)).toEqual(TEXT);
    expect(gz.body.length).toBeLessThan(TEXT.length / 10);

    const br = await get(proxy.port, 'zip.test', '/text', 'gzip, deflate, br');
    expect(br.headers['content-encoding']).toBe('br');
    expect(zlib.brotliDecompressSync(br.body)).toEqual(TEXT);
  });

  it('compresses a short known-length answer in one call and streams a longer one', async () => {
    expect(TEXT.length).toBeLessThanOrEqual(ONE_SHOT_MAX_BYTES);
    expect(LONG_TEXT.length).toBeGreaterThan(ONE_SHOT_MAX_BYTES);
    const before = compressors.length;
    const short = await get(proxy.port, 'zip.test', '/text', 'br');
    expect(zlib.brotliDecompressSync(short.body)).toEqual(TEXT);
    expect(compressors.length).toBe(before);
    for (const coding of ['br', 'gzip']) {
      const long = await get(proxy.port, 'zip.test', '/long', coding);
      expect(long.headers['content-encoding']).toBe(coding);
      expect(coding === 'br' ? zlib.brotliDecompressSync(long.body) : zlib.gunzipSync(long.body)).toEqual(LONG_TEXT);
    }
    expect(compressors.length).toBe(before + 2);
  });

  it('sends small answers and clients that accept no coding the bytes as they are', async () => {
    const small = await get(proxy.port, 'zip.test', '/small', 'gzip');
    expect(small.headers['content-encoding']).toBeUndefined();
    expect(small.body.toString()).toBe('small');
    const identity = await get(proxy.port, 'zip.test', '/text', 'identity');
    expect(identity.headers['content-encoding']).toBeUndefined();
    expect(identity.body).toEqual(TEXT);
  });

  it('compresses for an HTTP/2 client and from an h2c instance', async () => {
    const session = http2.connect(`http://127.0.0.1:${proxy.port}`);
    try {
      for (const authority of ['zip.test', 'h2up.test']) {
        const stream = session.request({ ':path': '/text', ':authority': authority, 'accept-encoding': 'gzip' });
        const chunks: Buffer[] = [];
        const head = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
          stream.once('response', resolve);
          stream.once('error', reject);
        });
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        await new Promise((resolve) => stream.once('end', resolve));
        expect(head[':status'], `${authority}: ${Buffer.concat(chunks).toString()}`).toBe(200);
        expect(head['content-encoding']).toBe('gzip');
        expect(zlib.gunzipSync(Buffer.concat(chunks))).toEqual(TEXT);
      }
    } finally {
      session.close();
    }
    const h1FromH2 = await get(proxy.port, 'h2up.test', '/text', 'br');
    expect(zlib.brotliDecompressSync(h1FromH2.body)).toEqual(TEXT);
  });

  it.each(['gzip', 'br'])('flushes each server-sent event at once (%s)', async (coding) => {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: proxy.port, path: '/sse', agent: false, headers: { host: 'zip.test', 'accept-encoding': coding } }, resolve).on('error', reject);
    });
    expect(res.headers['content-encoding']).toBe(coding);
    const decoder = coding === 'gzip' ? zlib.createGunzip() : zlib.createBrotliDecompress();
    let text = '';
    res.pipe(decoder).on('data', (chunk: Buffer) => (text += chunk.toString()));
    // The upstream has sent one event and holds the stream open: it must arrive decoded now.
    await waitFor('the first event, before the stream ends', () => text === 'data: one\n\n', { timeoutMs: 10_000 });
    h1.sse!.end('data: two\n\n');
    await new Promise((resolve) => decoder.once('end', resolve));
    expect(text).toBe('data: one\n\ndata: two\n\n');
  });

  it('streams a large body to a client that stops reading without buffering it (backpressure)', async () => {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: proxy.port, path: '/big', agent: false, headers: { host: 'zip.test', 'accept-encoding': 'gzip' } }, resolve).on('error', reject);
    });
    res.pause();
    // The client reads nothing: socket buffers and the compressor fill, then the upstream is held back.
    let last = -1;
    const heldAt = await waitFor(
      'the upstream held back',
      async () => {
        const seen = h1.bigWritten;
        await sleep(500);
        return seen === last && seen === h1.bigWritten ? seen : ((last = seen), undefined);
      },
      { timeoutMs: 20_000 },
    );
    // Held well before the end: what is in flight is kernel socket buffers (a few MiB per hop), not the proxy.
    expect(heldAt).toBeLessThan(BIG_CHUNKS / 2);
    const hash = createHash('sha256');
    const expected = createHash('sha256');
    for (let i = 0; i < BIG_CHUNKS; i++) expected.update(BIG_CHUNK);
    const gunzip = zlib.createGunzip();
    gunzip.on('data', (chunk: Buffer) => hash.update(chunk));
    res.pipe(gunzip);
    await new Promise((resolve) => gunzip.once('end', resolve));
    expect(hash.digest('hex')).toBe(expected.digest('hex'));
  }, 60_000);

  it('a client leaving mid-stream cuts the upstream and leaves no compressor behind', async () => {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: proxy.port, path: '/big', agent: false, headers: { host: 'zip.test', 'accept-encoding': 'br' } }, resolve).on('error', () => undefined).on('response', resolve).once('error', reject);
    });
    await new Promise((resolve) => res.once('data', resolve));
    expect(openCompressors()).toBe(1);
    res.destroy();
    await waitFor('the upstream answer closed', () => h1.bigClosed, { timeoutMs: 10_000 });
    await waitFor('every compressor closed', () => openCompressors() === 0, { timeoutMs: 10_000 });
  }, 30_000);
});
