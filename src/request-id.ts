/**
 * Request ids: the client's X-Request-Id when it is a valid one, else one the proxy makes, a
 * per-process random prefix and a sequence number in base 36 (`3f9c0a1b2c4d-1z`): unique within
 * the process across listeners, unique enough across processes to correlate logs, and far
 * cheaper than a UUID per request.
 *
 * The access log writes a generated id from its sequence number (writeGeneratedRequestId) rather
 * than reading the string: V8 holds `prefix + digits` as two joined pieces, and reading their
 * characters first copies them into one string (~2 k instructions a line, with the read itself).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const PREFIX = `${randomBytes(6).toString('hex')}-`;
const PREFIX_BYTES = new Uint8Array(Buffer.from(PREFIX, 'latin1'));
let lastSequence = 0;
const VALID_CLIENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The client's X-Request-Id when it is a valid one (1–128 of `A-Za-z0-9._:-`), else undefined. */
export function clientRequestId(req: IncomingMessage): string | undefined {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && VALID_CLIENT_ID.test(given) ? given : undefined;
}

/** The request's id: the client's when valid, else a new one. */
export function requestIdOf(req: IncomingMessage): string {
  return clientRequestId(req) ?? generatedRequestId(nextRequestSequence());
}

/** The next sequence number: from 1, starting over before Number.MAX_SAFE_INTEGER. */
export function nextRequestSequence(): number {
  lastSequence = lastSequence >= Number.MAX_SAFE_INTEGER - 1 ? 1 : lastSequence + 1;
  return lastSequence;
}

/** The id of sequence number `sequence` (≥ 1). */
export function generatedRequestId(sequence: number): string {
  return PREFIX + sequence.toString(36);
}

/**
 * The bytes of generatedRequestId(sequence) written at `offset` (ASCII: nothing to escape);
 * returns the offset after them.
 */
export function writeGeneratedRequestId(buffer: Buffer, offset: number, sequence: number): number {
  buffer.set(PREFIX_BYTES, offset);
  const start = offset + PREFIX_BYTES.length;
  let width = 1;
  for (let rest = sequence; rest >= 36; rest = Math.floor(rest / 36)) width++;
  let rest = sequence;
  for (let i = start + width - 1; i >= start; i--) {
    const next = Math.floor(rest / 36);
    const digit = rest - next * 36;
    // 0-9, then a-z (0x61 = 0x57 + 10), as Number#toString(36) writes them.
    buffer[i] = digit < 10 ? 0x30 + digit : 0x57 + digit;
    rest = next;
  }
  return start + width;
}
