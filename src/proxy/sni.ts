/**
 * Reads the server name (SNI) from a TLS ClientHello without terminating TLS,
 * so a TCP listener can pick a service by name and pass the bytes through.
 *
 * `parseClientHello` is pure and total: any byte sequence yields `incomplete`
 * (need more bytes), `invalid` (not a TLS ClientHello) or `ok` with the name
 * (undefined when the client sent none). `peekServerName` reads from a socket
 * until one of those is known, within a byte and a time bound.
 */
import type { Socket } from 'node:net';

/** Largest ClientHello we wait for (the record layer caps a record at 16 KiB; real hellos are ~0.5–2 KiB). */
export const MAX_CLIENT_HELLO_BYTES = 16 * 1024;
/** How long a client may take to send its ClientHello. */
export const CLIENT_HELLO_TIMEOUT_MS = 5_000;

const RECORD_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXTENSION_SERVER_NAME = 0x0000;
const NAME_TYPE_HOST = 0x00;

export type ClientHelloResult =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'invalid'; readonly why: string }
  | { readonly kind: 'ok'; readonly serverName: string | undefined };

const INCOMPLETE: ClientHelloResult = { kind: 'incomplete' };
const invalid = (why: string): ClientHelloResult => ({ kind: 'invalid', why });

/**
 * Parses the ClientHello at the start of `data`. The handshake message may span
 * several TLS records; their fragments are joined before parsing.
 */
export function parseClientHello(data: Buffer): ClientHelloResult {
  const fragments: Buffer[] = [];
  let fragmentBytes = 0;
  let helloLength = -1;
  let offset = 0;
  for (;;) {
    if (data.length < offset + 5) return data.length > MAX_CLIENT_HELLO_BYTES ? invalid('too large') : INCOMPLETE;
    if (data[offset] !== RECORD_HANDSHAKE) return invalid('not a TLS handshake record');
    if (data[offset + 1] !== 0x03) return invalid('unknown TLS record version');
    const recordLength = data.readUInt16BE(offset + 3);
    if (recordLength === 0 || recordLength > 16_384 + 2048) return invalid('bad TLS record length');
    const end = offset + 5 + recordLength;
    if (data.length < end) return end > MAX_CLIENT_HELLO_BYTES + 5 ? invalid('too large') : INCOMPLETE;
    fragments.push(data.subarray(offset + 5, end));
    fragmentBytes += recordLength;
    offset = end;
    if (helloLength === -1 && fragmentBytes >= 4) {
      const first = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments);
      if (first[0] !== HANDSHAKE_CLIENT_HELLO) return invalid('first handshake message is not a ClientHello');
      helloLength = first.readUIntBE(1, 3);
      if (helloLength > MAX_CLIENT_HELLO_BYTES) return invalid('too large');
    }
    if (helloLength !== -1 && fragmentBytes >= 4 + helloLength) {
      const handshake = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments);
      return parseHelloBody(handshake.subarray(4, 4 + helloLength));
    }
  }
}

/** ClientHello body (RFC 8446 §4.1.2): version, random, session id, ciphers, compression, extensions. */
function parseHelloBody(hello: Buffer): ClientHelloResult {
  let p = 2 + 32; // legacy_version, random
  if (hello.length < p + 1) return invalid('truncated ClientHello');
  p += 1 + hello[p]!; // session id
  if (hello.length < p + 2) return invalid('truncated ClientHello');
  p += 2 + hello.readUInt16BE(p); // cipher suites
  if (hello.length < p + 1) return invalid('truncated ClientHello');
  p += 1 + hello[p]!; // compression methods
  if (p === hello.length) return { kind: 'ok', serverName: undefined }; // no extensions at all
  if (hello.length < p + 2) return invalid('truncated ClientHello');
  const extensionsEnd = p + 2 + hello.readUInt16BE(p);
  p += 2;
  if (extensionsEnd > hello.length) return invalid('truncated extensions');
  while (p + 4 <= extensionsEnd) {
    const type = hello.readUInt16BE(p);
    const length = hello.readUInt16BE(p + 2);
    p += 4;
    if (p + length > extensionsEnd) return invalid('truncated extension');
    if (type === EXTENSION_SERVER_NAME) return parseServerName(hello.subarray(p, p + length));
    p += length;
  }
  return { kind: 'ok', serverName: undefined };
}

/** server_name extension (RFC 6066 §3): a list of (type, name); we take the host_name. */
function parseServerName(ext: Buffer): ClientHelloResult {
  if (ext.length < 2) return invalid('truncated server_name');
  const listEnd = Math.min(ext.length, 2 + ext.readUInt16BE(0));
  let p = 2;
  while (p + 3 <= listEnd) {
    const type = ext[p]!;
    const length = ext.readUInt16BE(p + 1);
    p += 3;
    if (p + length > listEnd) return invalid('truncated server_name');
    if (type === NAME_TYPE_HOST) {
      const name = ext.toString('latin1', p, p + length);
      if (!/^[A-Za-z0-9._-]{1,253}$/.test(name)) return invalid('server_name is not a host name');
      return { kind: 'ok', serverName: name.toLowerCase().replace(/\.$/, '') };
    }
    p += length;
  }
  return { kind: 'ok', serverName: undefined };
}

export type PeekResult =
  | { readonly kind: 'ok'; readonly serverName: string | undefined; readonly bytes: Buffer }
  | { readonly kind: 'invalid'; readonly why: string }
  | { readonly kind: 'closed' };

/**
 * Reads from `socket` until the ClientHello is complete (bounded by
 * MAX_CLIENT_HELLO_BYTES and `timeoutMs`). The bytes read are returned so the
 * caller can replay them to the upstream; the socket is left paused.
 */
export function peekServerName(socket: Socket, timeoutMs = CLIENT_HELLO_TIMEOUT_MS): Promise<PeekResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (result: PeekResult): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onClosed);
      socket.off('close', onClosed);
      socket.pause();
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      const bytes = chunks.length === 1 ? chunk : Buffer.concat(chunks, size);
      const result = parseClientHello(bytes);
      if (result.kind === 'ok') done({ kind: 'ok', serverName: result.serverName, bytes });
      else if (result.kind === 'invalid') done(result);
      else if (size > MAX_CLIENT_HELLO_BYTES + 5) done({ kind: 'invalid', why: 'too large' });
    };
    const onClosed = (): void => done({ kind: 'closed' });
    const timer = setTimeout(() => done({ kind: 'invalid', why: 'timeout' }), timeoutMs);
    socket.on('data', onData);
    socket.once('end', onClosed);
    socket.once('close', onClosed);
    socket.resume();
  });
}
