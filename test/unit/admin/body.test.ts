/**
 * readJsonBody on a real HTTP server: what each kind of request body reads as, and the
 * status and message of each refusal (DESIGN §4: 400, 413, 415).
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isJsonContentType, readJsonBody, sendError, sendJson } from '../../../src/admin/body.js';
import { isWaypostError } from '../../../src/errors.js';

const MAX_BYTES = 64;

describe('isJsonContentType', () => {
  it.each([
    { value: 'application/json', expected: true },
    { value: 'Application/JSON; charset=utf-8', expected: true },
    { value: ' application/json ;charset=utf-8', expected: true },
    { value: 'application/json-patch+json', expected: false },
    { value: 'text/plain', expected: false },
    { value: undefined, expected: false },
  ])('takes $value as JSON: $expected', ({ value, expected }) => {
    expect(isJsonContentType(value)).toBe(expected);
  });
});

describe('readJsonBody', () => {
  let server: http.Server;
  let port: number;
  beforeAll(async () => {
    // Echoes what readJsonBody made of the body: {"body": …} or the error as the admin API sends it.
    server = http.createServer((req, res) => {
      const required = req.url === '/required';
      readJsonBody(req, { maxBytes: MAX_BYTES, required }).then(
        (body) => sendJson(res, 200, { body: body === undefined ? '(none)' : body }),
        (err: unknown) => {
          if (!isWaypostError(err)) throw err;
          sendError(res, err, { connection: 'close' });
        },
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  /** One raw HTTP/1.1 request (so framing and headers are exactly as written); the status and JSON answer. */
  async function send(head: string, body = '', path = '/'): Promise<{ status: number; json: unknown }> {
    const socket = net.connect(port, '127.0.0.1');
    socket.end(`POST ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n${head}\r\n${body}`);
    let raw = '';
    for await (const chunk of socket) raw += String(chunk);
    const [headers = '', payload = ''] = raw.split('\r\n\r\n', 2);
    return { status: Number(headers.split(' ')[1]), json: JSON.parse(payload) as unknown };
  }
  const json = (text: string) => `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\n`;

  const cases: { name: string; head: string; body?: string; path?: string; status: number; json: unknown }[] = [
    { name: 'parses a JSON object', head: json('{"port":80}'), body: '{"port":80}', status: 200, json: { body: { port: 80 } } },
    { name: 'reads no body as none where a body is optional', head: '', status: 200, json: { body: '(none)' } },
    { name: 'reads a blank body as none where a body is optional', head: json('  \n'), body: '  \n', status: 200, json: { body: '(none)' } },
    {
      name: 'refuses a missing body where one is required',
      head: '',
      path: '/required',
      status: 400,
      json: { error: 'invalid', message: 'request body is empty; expected a JSON object' },
    },
    {
      name: 'refuses a body of another media type with 415',
      head: 'content-type: text/plain\r\ncontent-length: 2\r\n',
      body: '{}',
      status: 415,
      json: { error: 'unsupported_media_type', message: 'request body must be application/json; got content-type "text/plain"' },
    },
    {
      name: 'refuses a body without a content type with 415',
      head: 'content-length: 2\r\n',
      body: '{}',
      status: 415,
      json: { error: 'unsupported_media_type', message: 'request body must be application/json; no content-type was sent' },
    },
    {
      name: 'refuses JSON that does not parse with a stable sentence',
      head: json('{"port":'),
      body: '{"port":',
      status: 400,
      json: { error: 'invalid', message: 'request body is not valid JSON' },
    },
    {
      name: 'refuses a declared length above the limit before reading it',
      head: `content-type: application/json\r\ncontent-length: ${MAX_BYTES + 1}\r\n`,
      status: 413,
      json: { error: 'too_large', message: `request body is larger than admin.maxBodyBytes (${MAX_BYTES} bytes)` },
    },
    {
      name: 'refuses a chunked body that grows past the limit',
      head: 'content-type: application/json\r\ntransfer-encoding: chunked\r\n',
      body: `${(MAX_BYTES + 10).toString(16)}\r\n${'x'.repeat(MAX_BYTES + 10)}\r\n0\r\n\r\n`,
      status: 413,
      json: { error: 'too_large', message: `request body is larger than admin.maxBodyBytes (${MAX_BYTES} bytes)` },
    },
    {
      name: 'accepts a chunked body within the limit',
      head: 'content-type: application/json\r\ntransfer-encoding: chunked\r\n',
      body: '7\r\n{"a":1}\r\n0\r\n\r\n',
      status: 200,
      json: { body: { a: 1 } },
    },
  ];
  it.each(cases)('$name', async ({ head, body, path, status, json: expected }) => {
    const answer = await send(head, body, path);
    expect(answer).toEqual({ status, json: expect.objectContaining(expected as object) });
  });
});
