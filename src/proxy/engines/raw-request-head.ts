/**
 * The raw engine's upstream request head, written as one latin1 string (as node:http
 * does) from the handler's cleaned header object. The engine owns the body framing:
 * a buffered body is sent with its exact length, a streamed one keeps the client's
 * content-length or is re-chunked; whatever framing headers the object still has are
 * dropped so a request can never carry two.
 */
import { splitsHeaderLine, withFieldLine } from '../../net/header-line.js';
import type { AttemptOptions } from '../forwarder.js';

/** Control characters and spaces cannot appear in a request target (it would split the request line). */
const UNSAFE_TARGET = /[\0-\x20\x7f]/;

/** How the request body is framed upstream; `length`: the buffered body's, or the client's for a streamed one. */
export type BodyFraming = 'none' | 'length' | 'chunked';

export class InvalidUpstreamRequest extends Error {
  readonly code = 'ERR_INVALID_UPSTREAM_REQUEST';
}

export interface RequestHead {
  readonly text: string;
  readonly framing: BodyFraming;
}

/**
 * `hostPort` stands in for a missing Host header (HTTP/1.1 requires one). Throws InvalidUpstreamRequest.
 * Values are checked for CR, LF and NUL unless the attempt says they are clean (headerValuesClean:
 * from llhttp or the proxy; the check of six values was 2.6 k of ~89 k instructions a request).
 */
export function requestHead(attempt: AttemptOptions, hostPort: string): RequestHead {
  const path = attempt.path;
  if (UNSAFE_TARGET.test(path)) throw new InvalidUpstreamRequest('request target has a control character or space');
  const headers = attempt.headers;
  const host = headers.host;
  const clean = attempt.headerValuesClean === true;
  let text = `${attempt.method} ${path} HTTP/1.1\r\nhost: ${host === undefined ? hostPort : checked('host', host)}\r\n`;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || isFramedByEngine(name)) continue;
    if (typeof value === 'string') text = withFieldLine(text, name, clean ? value : checked(name, value));
    else for (let i = 0; i < value.length; i++) text = withFieldLine(text, name, clean ? value[i]! : checked(name, value[i]!));
  }
  let framing: BodyFraming;
  if (attempt.body !== undefined) {
    framing = 'length';
    text += `content-length: ${attempt.body.length}\r\n`;
  } else if (attempt.streamBody) {
    const length = headers['content-length'];
    framing = length === undefined ? 'chunked' : 'length';
    text += length === undefined ? 'transfer-encoding: chunked\r\n' : `content-length: ${checked('content-length', length)}\r\n`;
  } else {
    framing = 'none';
    // A body-less POST/PUT still says so: some servers wait for a length otherwise.
    if (headers['content-length'] === '0') text += 'content-length: 0\r\n';
  }
  return { text: `${text}\r\n`, framing };
}

/** Host, the framing fields and pseudo-headers are written by requestHead itself (or not at all). */
function isFramedByEngine(name: string): boolean {
  switch (name) {
    case 'host':
    case 'content-length':
    case 'transfer-encoding':
    case 'connection':
      return true;
    default:
      return name.charCodeAt(0) === 58; /* ':' */
  }
}

/** A value that would end the header line early or that parsers refuse is never sent (net/header-line.ts). */
function checked(name: string, value: string): string {
  if (splitsHeaderLine(value)) throw new InvalidUpstreamRequest(`header ${name} has a CR, LF or NUL`);
  return value;
}
