/**
 * One access-log line, encoded straight into a Buffer: pino's line format (`level`, `time`,
 * `pid`, the entry's fields, `msg: "request"`), byte for byte what
 * `JSON.stringify`-style string building gave, without building that string. A line used to
 * allocate ~1.7 KB (a string per field, a concatenation per piece, then the flattened line);
 * this writes the bytes one by one and allocates nothing for ASCII text and ordinary numbers.
 * Fields that repeat from line to line (method, host, service, route, instance, error, and the
 * time-and-pid prefix) are encoded once per value and copied, and so are the keys and the common
 * ending: on this machine copying 20 bytes costs a third of writing 20 characters. Fields that
 * repeat together are copied together, keys included (method, host and the path's key; service,
 * route, instance and the status's key; the status and the next key): a copy (TypedArray#set)
 * costs ~170 instructions whatever its length, so a line is seven copies, not twelve. Text that
 * needs escaping or is not ASCII, and numbers out of the plain range, take the general path
 * (JSON.stringify / String) as before.
 */

import { writeGeneratedRequestId } from './request-id.js';

/**
 * One proxied request as the access log records it; filled in by the HTTP handler, and for
 * WebSocket upgrades by proxy/ws-access-log.ts (a 101's line is written when its tunnel closes:
 * bytes and duration then cover the whole tunnel).
 */
export interface AccessLogEntry {
  requestId: string;
  /**
   * When the proxy made the id: its sequence number (request-id.ts), which the line is written
   * from (requestId is then generatedRequestId(requestSequence)); 0 for a client's id.
   */
  requestSequence: number;
  method: string;
  host: string;
  /** Path without the query string. */
  path: string;
  /** undefined when no route matched. */
  service: string | undefined;
  routeId: string | undefined;
  /** `service/id` of the last instance tried. */
  instance: string | undefined;
  status: number;
  /** Request body bytes; for a WebSocket, what the client sent through the tunnel. */
  bytesIn: number | undefined;
  /** Bytes written to the client socket for this response, head included (a WebSocket: the 101 and the whole tunnel). */
  bytesOut: number;
  durationMs: number;
  /** Time to the upstream response head in the last attempt; 0 without one. */
  upstreamMs: number;
  retries: number;
  /** Upstream failure reason or the proxy error code; undefined on success. */
  error: string | undefined;
  /** The client's protocol (a WebSocket upgrade's is HTTP/1.1: status 101 marks a tunnel). */
  protocol: 'HTTP/1.1' | 'HTTP/2';
  /** gRPC calls: the grpc-status the client received (the upstream's, or the proxy's own); else undefined. */
  grpcStatus: number | undefined;
  /** The OpenTelemetry trace id when the request was traced (sampled); else undefined. */
  traceId: string | undefined;
}

/** Bytes of a line beyond its strings: keys, punctuation, time, pid and up to seven numbers. */
const FIXED_BYTES = 640;
/** A UTF-16 unit is at most 6 bytes in the line (`\u001f`, a lone surrogate escaped; UTF-8 needs ≤ 3). */
const MAX_BYTES_PER_CHAR = 6;
/** Milliseconds below this (about 35 years) print exactly as `Math.round(ms * 1000) / 1000` does. */
const PLAIN_MS_LIMIT = 2 ** 40;

/** The most bytes `encodeLine` may write for `entry` (its ISO time is 24 characters, 27 past the year 9999). */
export function maxLineBytes(entry: AccessLogEntry): number {
  const text =
    entry.requestId.length +
    entry.method.length +
    entry.host.length +
    entry.path.length +
    (entry.service?.length ?? 0) +
    (entry.routeId?.length ?? 0) +
    (entry.instance?.length ?? 0) +
    (entry.error?.length ?? 0) +
    (entry.traceId?.length ?? 0);
  return FIXED_BYTES + text * MAX_BYTES_PER_CHAR;
}

/** Values longer than this are encoded each time rather than cached (a cache holds short, repeating values). */
const MAX_CACHED_LENGTH = 256;
/** Values one cache holds before it is emptied and starts over: hosts come from clients, so it is bounded. */
const MAX_CACHED_VALUES = 1024;

/**
 * `,"key":"value"` of one low-cardinality field (method, host, service, routeId, instance,
 * error), encoded once per distinct value and copied from then on (TypedArray#set: a memmove):
 * nearly every line repeats them, so the per-character escape checks run once per value.
 */
class RepeatedField {
  readonly #byValue = new Map<string, Uint8Array>();

  constructor(readonly key: string) {}

  write(buffer: Buffer, offset: number, value: string): number {
    let bytes = this.#byValue.get(value);
    if (bytes === undefined) {
      if (value.length > MAX_CACHED_LENGTH) return field(buffer, offset, this.key, value);
      const scratch = Buffer.allocUnsafe(this.key.length + value.length * MAX_BYTES_PER_CHAR + 2);
      bytes = new Uint8Array(scratch.subarray(0, field(scratch, 0, this.key, value)));
      if (this.#byValue.size >= MAX_CACHED_VALUES) this.#byValue.clear();
      this.#byValue.set(value, bytes);
    }
    return copy(buffer, offset, bytes);
  }
}

const SERVICE = new RepeatedField(',"service":');
const ROUTE_ID = new RepeatedField(',"routeId":');
const ERROR = new RepeatedField(',"error":');

/** Variants one key of a RepeatedRun holds (methods of a host, routes of an instance) before it stops adding. */
const MAX_VARIANTS = 8;

/** One cached run: the bytes for a key's value together with the two values `first` and `second`. */
interface Run {
  readonly first: string | undefined;
  readonly second: string | undefined;
  readonly bytes: Uint8Array;
  readonly next: Run | undefined;
}

/**
 * Several fields that repeat together, keys and punctuation included, encoded once per
 * combination and copied from then on: cached by one field's value (a Map lookup), the other
 * two matched by identity along a short chain (nearly always its first link).
 */
class RepeatedRun {
  readonly #byValue = new Map<string, Run>();

  constructor(
    readonly encode: (buffer: Buffer, offset: number, value: string, first: string | undefined, second: string | undefined) => number,
  ) {}

  write(buffer: Buffer, offset: number, value: string, first: string | undefined, second: string | undefined): number {
    const head = this.#byValue.get(value);
    let variants = 0;
    for (let run = head; run !== undefined; run = run.next, variants++) {
      if (run.first === first && run.second === second) return copy(buffer, offset, run.bytes);
    }
    const length = value.length + (first?.length ?? 0) + (second?.length ?? 0);
    if (length > MAX_CACHED_LENGTH || variants >= MAX_VARIANTS) return this.encode(buffer, offset, value, first, second);
    const scratch = Buffer.allocUnsafe(FIXED_BYTES + length * MAX_BYTES_PER_CHAR);
    const bytes = new Uint8Array(scratch.subarray(0, this.encode(scratch, 0, value, first, second)));
    if (head === undefined && this.#byValue.size >= MAX_CACHED_VALUES) this.#byValue.clear();
    this.#byValue.set(value, { first, second, bytes, next: head });
    return copy(buffer, offset, bytes);
  }
}

/** `,"method":…,"host":…,"path":` by host, then method. */
const REQUEST_RUN = new RepeatedRun((buffer, offset, host, method) => {
  const at = field(buffer, field(buffer, offset, ',"method":', method!), ',"host":', host);
  return ascii(buffer, at, ',"path":');
});

/** `,"service":…,"routeId":…,"instance":…,"status":` by instance, then service and route. */
const ROUTE_RUN = new RepeatedRun((buffer, offset, instance, service, routeId) => {
  let at = offset;
  if (service !== undefined) at = field(buffer, at, ',"service":', service);
  if (routeId !== undefined) at = field(buffer, at, ',"routeId":', routeId);
  return ascii(buffer, field(buffer, at, ',"instance":', instance), ',"status":');
});

/** The statuses whose runs are kept (every valid HTTP status, and 0 for none). */
const MAX_RUN_STATUS = 999;

/** `<status>` and the key after it (`,"bytesIn":` or `,"bytesOut":`) in one copy, by status. */
class StatusRuns {
  readonly #byStatus: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(MAX_RUN_STATUS + 1).fill(undefined);

  constructor(readonly key: Uint8Array) {}

  write(buffer: Buffer, offset: number, status: number): number {
    if (!(Number.isInteger(status) && status >= 0 && status <= MAX_RUN_STATUS)) return copy(buffer, integer(buffer, offset, status), this.key);
    let bytes = this.#byStatus[status];
    if (bytes === undefined) {
      const scratch = Buffer.allocUnsafe(3 + this.key.length);
      bytes = new Uint8Array(scratch.subarray(0, copy(scratch, digits(scratch, 0, status), this.key)));
      this.#byStatus[status] = bytes;
    }
    return copy(buffer, offset, bytes);
  }
}

/**
 * `{"level":"info","time":"…","pid":…,"requestId":`, kept in one buffer: rebuilt (toISOString)
 * when the second or the pid changes, and within a second only its three millisecond digits are
 * rewritten in place. A proxy at a few hundred requests a second starts a new millisecond with
 * nearly every line; a string per millisecond and a rebuilt prefix cost it ~3,000 instructions a
 * line (bench/instructions.ts, where valgrind's slowness gives every request its own millisecond).
 */
const prefixBytes = Buffer.allocUnsafeSlow(256);
let prefix: Uint8Array = prefixBytes.subarray(0, 0);
let prefixSecond = Number.NaN;
let prefixPid = -1;
/** Where the milliseconds' three digits sit in the prefix. */
let millisAt = 0;

function linePrefix(nowMs: number, pid: number): Uint8Array {
  const millis = ((nowMs % 1000) + 1000) % 1000;
  const second = nowMs - millis;
  if (second !== prefixSecond || pid !== prefixPid) {
    // `2026-12-06T20:41:07.000Z` (±YYYYYY years past 9999): the digits before `Z` are the milliseconds.
    const iso = new Date(second).toISOString();
    let at = ascii(prefixBytes, 0, '{"level":"info","time":"');
    at = ascii(prefixBytes, at, iso);
    millisAt = at - 4;
    at = integer(prefixBytes, ascii(prefixBytes, at, '","pid":'), pid);
    prefix = prefixBytes.subarray(0, ascii(prefixBytes, at, ',"requestId":'));
    prefixSecond = second;
    prefixPid = pid;
  }
  const tens = Math.floor(millis / 10);
  prefixBytes[millisAt] = 0x30 + Math.floor(millis / 100);
  prefixBytes[millisAt + 1] = 0x30 + (tens % 10);
  prefixBytes[millisAt + 2] = 0x30 + (millis - tens * 10);
  return prefix;
}

/** A constant piece of every line, encoded once: copying bytes is cheaper than writing characters. */
function constant(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'latin1'));
}

const STATUS_KEY = constant(',"status":');
const BYTES_IN_KEY = constant(',"bytesIn":');
const BYTES_OUT_KEY = constant(',"bytesOut":');
const STATUS_THEN_BYTES_IN = new StatusRuns(BYTES_IN_KEY);
const STATUS_THEN_BYTES_OUT = new StatusRuns(BYTES_OUT_KEY);
const DURATION_KEY = constant(',"durationMs":');
const UPSTREAM_KEY = constant(',"upstreamMs":');
const RETRIES_KEY = constant(',"retries":');
const HTTP1 = constant(',"protocol":"HTTP/1.1"');
const HTTP2 = constant(',"protocol":"HTTP/2"');
const GRPC_KEY = constant(',"grpcStatus":');
const TRACE_KEY = constant(',"traceId":"');
const END = constant(',"msg":"request"}\n');
/** The end of nearly every line: no retry, no error, HTTP/1.1, no gRPC status, no trace. */
const PLAIN_END = constant(',"retries":0,"protocol":"HTTP/1.1","msg":"request"}\n');

/**
 * Writes the line of `entry` (newline included) at `offset` and returns the offset after it;
 * its time is `nowMs` (Date.now()) as pino writes it (toISOString). `buffer` must have
 * maxLineBytes(entry) bytes free from `offset`.
 */
export function encodeLine(buffer: Buffer, offset: number, entry: AccessLogEntry, nowMs: number, pid: number): number {
  let at = copy(buffer, offset, linePrefix(nowMs, pid));
  if (entry.requestSequence > 0) {
    buffer[at] = 0x22;
    at = writeGeneratedRequestId(buffer, at + 1, entry.requestSequence);
    buffer[at++] = 0x22;
  } else {
    at = jsonString(buffer, at, entry.requestId);
  }
  at = jsonString(buffer, REQUEST_RUN.write(buffer, at, entry.host, entry.method, undefined), entry.path);
  if (entry.instance !== undefined) at = ROUTE_RUN.write(buffer, at, entry.instance, entry.service, entry.routeId);
  else {
    // Not routed, or no instance tried: rarer lines, field by field.
    if (entry.service !== undefined) at = SERVICE.write(buffer, at, entry.service);
    if (entry.routeId !== undefined) at = ROUTE_ID.write(buffer, at, entry.routeId);
    at = copy(buffer, at, STATUS_KEY);
  }
  if (entry.bytesIn === undefined) at = STATUS_THEN_BYTES_OUT.write(buffer, at, entry.status);
  else at = copy(buffer, integer(buffer, STATUS_THEN_BYTES_IN.write(buffer, at, entry.status), entry.bytesIn), BYTES_OUT_KEY);
  at = integer(buffer, at, entry.bytesOut);
  at = milliseconds(buffer, copy(buffer, at, DURATION_KEY), entry.durationMs);
  at = milliseconds(buffer, copy(buffer, at, UPSTREAM_KEY), entry.upstreamMs);
  if (
    entry.retries === 0 &&
    entry.error === undefined &&
    entry.protocol === 'HTTP/1.1' &&
    entry.grpcStatus === undefined &&
    entry.traceId === undefined
  ) {
    return copy(buffer, at, PLAIN_END);
  }
  at = integer(buffer, copy(buffer, at, RETRIES_KEY), entry.retries);
  if (entry.error !== undefined) at = ERROR.write(buffer, at, entry.error);
  at = copy(buffer, at, entry.protocol === 'HTTP/2' ? HTTP2 : HTTP1);
  if (entry.grpcStatus !== undefined) at = integer(buffer, copy(buffer, at, GRPC_KEY), entry.grpcStatus);
  if (entry.traceId !== undefined) {
    // Written as it is, unescaped, as it always was: an id this proxy made (hex).
    at = raw(buffer, copy(buffer, at, TRACE_KEY), entry.traceId);
    buffer[at++] = 0x22;
  }
  return copy(buffer, at, END);
}

function copy(buffer: Buffer, offset: number, bytes: Uint8Array): number {
  buffer.set(bytes, offset);
  return offset + bytes.length;
}

/** A constant or already-checked ASCII text. */
function ascii(buffer: Buffer, offset: number, text: string): number {
  for (let i = 0; i < text.length; i++) buffer[offset + i] = text.charCodeAt(i);
  return offset + text.length;
}

/** `key` then `value` as a JSON string. */
function field(buffer: Buffer, offset: number, key: string, value: string): number {
  return jsonString(buffer, ascii(buffer, offset, key), value);
}

/**
 * A JSON string: printable ASCII without `"` and `\` (nearly every host, path and id) is copied
 * as it is; anything else is escaped by JSON.stringify and UTF-8 encoded, as before.
 */
function jsonString(buffer: Buffer, offset: number, value: string): number {
  const length = value.length;
  buffer[offset] = 0x22;
  for (let i = 0; i < length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code > 0x7e || code === 0x22 || code === 0x5c) return offset + buffer.write(JSON.stringify(value), offset, 'utf8');
    buffer[offset + 1 + i] = code;
  }
  buffer[offset + 1 + length] = 0x22;
  return offset + length + 2;
}

/** Text copied as UTF-8 without escaping. */
function raw(buffer: Buffer, offset: number, value: string): number {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code > 0x7f) return offset + buffer.write(value, offset, 'utf8');
    buffer[offset + i] = code;
  }
  return offset + value.length;
}

/** A number as `String(value)` writes it; non-negative safe integers without a string. */
function integer(buffer: Buffer, offset: number, value: number): number {
  if (!(Number.isSafeInteger(value) && value >= 0)) return raw(buffer, offset, String(value));
  return digits(buffer, offset, value);
}

function digits(buffer: Buffer, offset: number, value: number): number {
  let width = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) width++;
  let rest = value;
  for (let i = offset + width - 1; i >= offset; i--) {
    const next = Math.floor(rest / 10);
    buffer[i] = 0x30 + (rest - next * 10);
    rest = next;
  }
  return offset + width;
}

/**
 * Milliseconds with microsecond precision, as `String(Math.round(ms * 1000) / 1000)` writes them
 * (shortest form: `1.5`, `0.05`, `2`): the integer part, then up to three decimals without
 * trailing zeros. Exact below PLAIN_MS_LIMIT, where a double tells every 0.001 apart.
 */
function milliseconds(buffer: Buffer, offset: number, value: number): number {
  const micros = Math.round(value * 1000);
  if (!(micros >= 0 && micros < PLAIN_MS_LIMIT)) return raw(buffer, offset, String(micros / 1000));
  const whole = Math.floor(micros / 1000);
  let fraction = micros - whole * 1000;
  let at = digits(buffer, offset, whole);
  if (fraction === 0) return at;
  buffer[at++] = 0x2e;
  let divisor = 100;
  while (fraction > 0) {
    const digit = Math.floor(fraction / divisor);
    buffer[at++] = 0x30 + digit;
    fraction -= digit * divisor;
    divisor /= 10;
  }
  return at;
}
