/**
 * Node's own llhttp binding (the HTTPParser node:http runs on), typed for the raw engine.
 * `_http_common` is the module node:http itself loads, so this costs no memory and no
 * hand-written HTTP parsing: framing, header syntax and smuggling defences are llhttp's.
 *
 * The parser calls back by numeric slot. For a head with more than 32 fields it first
 * hands the fields out in batches (kOnHeaders) and then calls kOnHeadersComplete with
 * `headers` (and `url`) undefined; HeadParts collects those batches as node:http does.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  /** Parses `data`, calling back synchronously; an Error (code HPE_*) when the input is not HTTP. */
  execute(data: Buffer): number | Error;
  /** The connection ended: completes a body delimited by the close, or an Error. */
  finish(): number | Error | undefined;
  close(): void;
  free(): void;
  [slot: number]: unknown;
}

interface HttpParserClass {
  new (): LlhttpParser;
  readonly REQUEST: number;
  readonly RESPONSE: number;
  readonly kOnMessageBegin: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
  readonly kLenientNone: number;
}

export const { HTTPParser } = require('_http_common') as { HTTPParser: HttpParserClass };

/**
 * The binding looks each callback up on the parser object at every message (message begin,
 * message complete, …) and calls it when it is a function. A slot never set is looked up through
 * the prototype chain on every message (~630 instructions, several a proxied request); a slot
 * holding null is an own element, found at once, and skipped. Fills every slot not given.
 */
export function setCallbacks(parser: LlhttpParser, callbacks: { [slot: number]: ((...args: never[]) => unknown) | null }): void {
  for (const slot of CALLBACK_SLOTS) parser[slot] = callbacks[slot] ?? null;
}

const CALLBACK_SLOTS = [HTTPParser.kOnMessageBegin, HTTPParser.kOnHeaders, HTTPParser.kOnHeadersComplete, HTTPParser.kOnBody, HTTPParser.kOnMessageComplete];

/**
 * kOnHeadersComplete's arguments, in order: (versionMajor, versionMinor, headers, method,
 * url, statusCode, statusMessage, upgrade, shouldKeepAlive). Returning 1 tells llhttp the
 * message has no body whatever its headers say (the answer to a HEAD request).
 */
export type OnHeadersComplete = (
  versionMajor: number,
  versionMinor: number,
  headers: string[] | undefined,
  method: number,
  url: string | undefined,
  statusCode: number,
  statusMessage: string,
  upgrade: boolean,
  shouldKeepAlive: boolean,
) => number;

/** Header fields the parser flushed before the head completed (heads of more than 32 fields). */
export class HeadParts {
  #flushed: string[] | undefined;

  /** kOnHeaders: a batch of [name, value, …]. */
  add(fields: string[]): void {
    if (this.#flushed === undefined) this.#flushed = fields.slice();
    else for (let i = 0; i < fields.length; i++) this.#flushed.push(fields[i]!);
  }

  /** The whole raw field list at kOnHeadersComplete; resets for the next message. */
  take(last: string[] | undefined): string[] {
    const flushed = this.#flushed;
    if (flushed === undefined) return last ?? [];
    this.#flushed = undefined;
    if (last !== undefined) for (let i = 0; i < last.length; i++) flushed.push(last[i]!);
    return flushed;
  }

  /** Trailers also arrive through kOnHeaders: fields seen after the head are dropped here. */
  clear(): void {
    this.#flushed = undefined;
  }
}

/**
 * kOnHeadersComplete's result "no body, upgrade": execute() stops right after the head and
 * returns how much of the read it took. llhttp then keeps its upgrade flag until the next head
 * completes, and while it is set node's binding reports no parse error: execute() returns the
 * error's position instead of an Error (and a parser left in error returns a stale position).
 * Initializing the parser afresh after every such head cleared the flag but costs an AsyncWrap
 * reset (~2.7 k instructions, two a proxied request). Instead, a read that completed no head
 * after a stop is checked with `passedOver`, and when it fails the check the head's bytes so
 * far are parsed again by a fresh parser, which reports the error (or is then exactly where
 * the stopped one should be).
 */
export const STOP_AFTER_HEAD = 2;

/**
 * A read that completed no head, parsed by a parser stopped after the previous head: anything
 * short of the whole read, or more head bytes than a head may have, may be an error it passed over.
 */
export function passedOver(data: Buffer, result: number, headBytes: number, maxHeaderSize: number): boolean {
  return result !== data.length || headBytes > maxHeaderSize;
}

/**
 * The reads of a head not complete yet and their bytes, for `passedOver`, a re-parse by a fresh
 * parser, or a hand-off. Copied as they are added: a read may be in the shared read buffer.
 */
export class HeadReads {
  #reads: Buffer[] | undefined;
  #bytes = 0;

  get empty(): boolean {
    return this.#reads === undefined;
  }

  get bytes(): number {
    return this.#bytes;
  }

  add(data: Buffer): void {
    (this.#reads ??= []).push(Buffer.from(data));
    this.#bytes += data.length;
  }

  /** The reads so far with `data` after them, as one Buffer (`data` itself when there were none); empties the list. */
  take(data: Buffer): Buffer {
    const reads = this.#reads;
    this.clear();
    return reads === undefined ? data : Buffer.concat([...reads, data]);
  }

  clear(): void {
    this.#reads = undefined;
    this.#bytes = 0;
  }
}
