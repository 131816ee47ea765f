import { PassThrough, type Writable } from 'node:stream';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Compress, MediaTypes, negotiateEncoding } from '../../../src/policy/compress.js';
import { policyRequest } from './edits-fixtures.js';

const compress = new Compress({ types: ['text/*', 'application/json'], minBytes: 100 });
const gzipRequest = (fields: Parameters<typeof policyRequest>[0] = {}) =>
  policyRequest({ ...fields, headers: { 'accept-encoding': 'gzip', ...fields.headers } });

/** Runs the step on a head; returns what it returned and the head after. */
function onHead(head: string[], status = 200, request = gzipRequest()): { out: Writable; sink: PassThrough; head: string[] } {
  const sink = new PassThrough();
  return { out: compress.onHead(request, status, head, sink), sink, head };
}

async function collect(stream: PassThrough): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('negotiateEncoding', () => {
  it.each([
    ['gzip, deflate, br, zstd', 'br'],
    ['gzip', 'gzip'],
    ['br;q=0.5, gzip', 'gzip'],
    ['br;q=1, gzip;q=1', 'br'],
    ['*', 'br'],
    ['*;q=0.5, br;q=0', 'gzip'],
    ['gzip;q=0, br;q=0', undefined],
    ['identity', undefined],
    ['identity;q=0', undefined],
    ['deflate', undefined],
    ['x-gzip', 'gzip'],
    ['GZIP ; Q=0.8', 'gzip'],
    ['gzip;q=2', undefined],
    ['', undefined],
  ])('%j → %s', (header, expected) => {
    expect(negotiateEncoding(header)).toBe(expected);
  });
});

describe('MediaTypes', () => {
  it('matches exact types and type/* with parameters and any case', () => {
    const types = new MediaTypes(['text/*', 'application/json']);
    expect(types.matches('text/html; charset=utf-8')).toBe(true);
    expect(types.matches('Application/JSON')).toBe(true);
    expect(types.matches('application/json-seq')).toBe(false);
    expect(types.matches('image/png')).toBe(false);
  });
});

describe('Compress.onHead', () => {
  it('compresses a matching answer: drops the length, sets the encoding, Vary and a weak ETag', async () => {
    const { out, sink, head } = onHead(['Content-Type', 'text/plain', 'Content-Length', '1000', 'ETag', '"abc"', 'Vary', 'Cookie', 'Accept-Ranges', 'bytes']);
    expect(out).not.toBe(sink);
    expect(head).toEqual(['Content-Type', 'text/plain', 'ETag', 'W/"abc"', 'Vary', 'Cookie, Accept-Encoding', 'content-encoding', 'gzip']);
    const body = Buffer.alloc(1000, 'hello ');
    out.end(body);
    expect(zlib.gunzipSync(await collect(sink))).toEqual(body);
  });

  it('compresses with brotli when the client prefers it', async () => {
    const request = gzipRequest({ headers: { 'accept-encoding': 'br, gzip' } });
    const { out, sink, head } = onHead(['content-type', 'application/json'], 200, request);
    expect(head).toContain('br');
    out.end('{"a":1}');
    expect(zlib.brotliDecompressSync(await collect(sink)).toString()).toBe('{"a":1}');
  });

  it.each([
    ['already encoded', ['content-type', 'text/plain', 'content-encoding', 'gzip'], 200],
    ['smaller than minBytes', ['content-type', 'text/plain', 'content-length', '99'], 200],
    ['not a listed type', ['content-type', 'image/png'], 200],
    ['without a type', [], 200],
    ['a range', ['content-type', 'text/plain', 'content-range', 'bytes 0-9/100'], 206],
    ['no-transform', ['content-type', 'text/plain', 'cache-control', 'public, no-transform'], 200],
    ['204', ['content-type', 'text/plain'], 204],
    ['304', ['content-type', 'text/plain'], 304],
  ])('leaves an answer %s alone', (_why, head, status) => {
    const before = [...head];
    const { out, sink } = onHead(head, status);
    expect(out).toBe(sink);
    expect(head).toEqual(before);
  });

  it('leaves HEAD answers and clients without Accept-Encoding alone', () => {
    const head = ['content-type', 'text/plain'];
    expect(onHead([...head], 200, gzipRequest({ method: 'HEAD' })).out).toBeInstanceOf(PassThrough);
    expect(onHead([...head], 200, policyRequest()).out).toBeInstanceOf(PassThrough);
  });

  it('flushes every chunk of an event stream (the client sees each event at once)', async () => {
    const { out, sink } = onHead(['content-type', 'text/event-stream']);
    const seen: Buffer[] = [];
    sink.on('data', (chunk: Buffer) => seen.push(chunk));
    out.write('data: one\n\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    // A sync-flushed deflate stream decodes so far without its end.
    const inflated = zlib.gunzipSync(Buffer.concat(seen), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    expect(inflated.toString()).toBe('data: one\n\n');
    out.end();
  });

  it('destroys the compressor when the client response closes (no native memory left behind)', () => {
    const request = gzipRequest();
    const { out } = onHead(['content-type', 'text/plain'], 200, request);
    (request.res as unknown as PassThrough).destroy();
    return new Promise<void>((resolve) => out.once('close', () => resolve()));
  });
});
