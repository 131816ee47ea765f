/**
 * Header rewriting for the HTTP data path (DESIGN §5): hop-by-hop headers are
 * stripped both ways, X-Forwarded-* are set by us (never by the engine), and
 * every request carries an X-Request-Id that is echoed on the response.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import net from 'node:net';
import { parseCidr } from '../net/address.js';
import { equalsLowerCase } from '../net/header-name.js';
import { withFieldLine } from '../net/header-line.js';
import { HOP_BY_HOP } from '../net/hop-by-hop.js';

/**
 * Removes hop-by-hop headers and those the Connection header names. An HTTP/1 request that has
 * any gets a new header object without them: deleting a field other than the last turns V8's
 * object into a slow dictionary for everything after (the forwarded headers added, every lookup,
 * the upstream head written), about 1 µs a request where browsers send `Connection: keep-alive`
 * second. HTTP/2 requests (whose `headers` cannot be replaced; `te: trailers` is their only
 * such field) delete in place.
 */
function stripHopByHop(req: IncomingMessage): void {
  const headers = req.headers;
  const connection = headers.connection;
  let named: Set<string> | undefined;
  if (connection !== undefined && !namesNoHeader(connection, headers)) {
    named = connectionNames(connection);
    // Via carries this proxy's loop marker (loop-guard.ts): a client may not name it away.
    named.delete('via');
  }
  // One pass over the fields the request has: a set lookup per field, rather than a load per
  // hop-by-hop name (loads of absent keys by a varying name are V8's slow, megamorphic kind).
  let found = false;
  for (const name in headers) {
    if (isStripped(name, named)) {
      found = true;
      break;
    }
  }
  if (!found) return;
  if (req.httpVersionMajor === 2) {
    for (const name in headers) if (isStripped(name, named)) delete headers[name];
    return;
  }
  const kept: IncomingHttpHeaders = {};
  for (const name in headers) if (!isStripped(name, named)) kept[name] = headers[name];
  req.headers = kept;
}

/** A hop-by-hop field, or one the request's Connection header names. */
function isStripped(name: string, named: ReadonlySet<string> | undefined): boolean {
  return HOP_BY_HOP.has(name) || (named !== undefined && named.has(name));
}

/** The hop-by-hop names by length: most response headers are ruled out by their length alone. */
const HOP_BY_HOP_BY_LENGTH: readonly (readonly string[] | undefined)[] = [...HOP_BY_HOP].reduce<string[][]>((byLength, name) => {
  (byLength[name.length] ??= []).push(name);
  return byLength;
}, []);
const REQUEST_ID_HEADER = 'x-request-id';

/** The hop-by-hop name `name` is, in lower case, or undefined: compared without lower-casing it (no string per header). */
function hopByHopName(name: string): string | undefined {
  const candidates = HOP_BY_HOP_BY_LENGTH[name.length];
  if (candidates === undefined) return undefined;
  for (let i = 0; i < candidates.length; i++) if (equalsLowerCase(name, candidates[i]!)) return candidates[i];
  return undefined;
}


/**
 * The client response head from an upstream's raw header list (`[name, value, name, value…]`,
 * duplicates and case kept): hop-by-hop fields and those the Connection header names are
 * dropped, and `x-request-id` is added unless the upstream answered with one. A flat list lets
 * node:http write the head without building a header map first.
 */
export function clientResponseHead(raw: readonly string[], requestId: string): string[] {
  // Pushed, not preallocated and cut: shortening an array's length is a runtime call in V8, and
  // the first push reserves room for 16 entries.
  const head: string[] = [];
  let connection: string | undefined;
  let hasRequestId = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const hop = hopByHopName(name);
    if (hop !== undefined) {
      if (hop === 'connection') connection = connection === undefined ? raw[i + 1]! : `${connection}, ${raw[i + 1]!}`;
      continue;
    }
    if (!hasRequestId) hasRequestId = equalsLowerCase(name, REQUEST_ID_HEADER);
    head.push(name, raw[i + 1]!);
  }
  if (!hasRequestId) head.push(REQUEST_ID_HEADER, requestId);
  if (connection === undefined || equalsLowerCase(connection, 'keep-alive')) return head;
  // The upstream named further fields as hop-by-hop (`Connection: x-hop`); `close` names none in practice.
  const named = connectionNames(connection);
  return head.filter((_, i, list) => !named.has(list[i - (i % 2)]!.toLowerCase()));
}

/** clientResponseHead as `name: value\r\n` lines, and what a writer framing the head needs to know of them. */
export interface ClientResponseLines {
  readonly text: string;
  readonly hasDate: boolean;
  readonly hasLength: boolean;
}

/**
 * clientResponseHead written as head lines in the same pass (RawResponse.writeProxiedHead: no
 * list in between, no second pass to frame it). undefined when the upstream's Connection field
 * names more than `keep-alive`: the list form filters the fields it names.
 */
export function clientResponseLines(raw: readonly string[], requestId: string): ClientResponseLines | undefined {
  let text = '';
  let hasRequestId = false;
  let hasDate = false;
  let hasLength = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const hop = hopByHopName(name);
    if (hop !== undefined) {
      if (hop === 'connection' && !equalsLowerCase(raw[i + 1]!, 'keep-alive')) return undefined;
      continue;
    }
    switch (name.length) {
      case 4:
        if (!hasDate) hasDate = equalsLowerCase(name, 'date');
        break;
      case 12:
        if (!hasRequestId) hasRequestId = equalsLowerCase(name, REQUEST_ID_HEADER);
        break;
      case 14:
        if (!hasLength) hasLength = equalsLowerCase(name, 'content-length');
        break;
    }
    text = withFieldLine(text, name, raw[i + 1]!);
  }
  if (!hasRequestId) text = withFieldLine(text, REQUEST_ID_HEADER, requestId);
  return { text, hasDate, hasLength };
}

/**
 * `keep-alive` and `close`, nearly every Connection header there is, name no header that
 * is not stripped anyway (unless a field is literally called `close`): the common case
 * then costs no split and no Set per request.
 */
function namesNoHeader(connection: string, headers: IncomingHttpHeaders): boolean {
  const value = connection.length <= 10 ? connection.toLowerCase() : '';
  return value === 'keep-alive' || (value === 'close' && headers.close === undefined);
}

/** The field names a Connection header lists, lower-cased (requests and responses alike). */
function connectionNames(connection: string): Set<string> {
  const names = new Set<string>();
  for (const token of connection.split(',')) {
    const name = token.trim().toLowerCase();
    if (name) names.add(name);
  }
  return names;
}

/**
 * The request's authority: HTTP/2's `:authority`, else the Host header ("" when neither). An
 * HTTP/1 head cannot carry `:authority` (a colon is not a name character), so it is not looked
 * for there: a load of a missing key from a header object is a slow, megamorphic one.
 */
export function requestAuthority(req: IncomingMessage): string {
  if (req.httpVersionMajor !== 2) return req.headers.host ?? '';
  const authority = req.headers[':authority'];
  return typeof authority === 'string' ? authority : (req.headers.host ?? '');
}

/** A request header by name, repeated values joined (the router's header matches read it). */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Peers whose X-Forwarded-For we extend instead of replacing. */
export class TrustedProxies {
  readonly #list = new net.BlockList();
  readonly #empty: boolean;

  constructor(cidrs: readonly string[]) {
    for (const text of cidrs) {
      const range = parseCidr(text);
      if (range) this.#list.addSubnet(range.address, range.prefix, range.family);
    }
    this.#empty = cidrs.length === 0;
  }

  has(address: string): boolean {
    if (this.#empty || !address) return false;
    return net.isIPv4(address) ? this.#list.check(address, 'ipv4') : this.#list.check(address, 'ipv6');
  }
}

/** `::ffff:10.0.0.1` → `10.0.0.1` (dual-stack listeners report IPv4 peers mapped). */
export function peerAddress(req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? '';
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}

/**
 * The client address for balancing and logs: the left-most X-Forwarded-For entry
 * when the peer is a trusted proxy, else the peer itself.
 */
export function clientAddress(req: IncomingMessage, peer: string, trusted: TrustedProxies): string {
  const forwarded = req.headers['x-forwarded-for'];
  if (typeof forwarded !== 'string' || !trusted.has(peer)) return peer;
  const comma = forwarded.indexOf(',');
  const first = (comma === -1 ? forwarded : forwarded.slice(0, comma)).trim();
  return first || peer;
}

/** Rewrites the client's headers in place into the upstream request's headers. */
export function setForwardedHeaders(
  req: IncomingMessage,
  peer: string,
  trusted: TrustedProxies,
  proto: 'http' | 'https',
  requestId: string,
): void {
  stripHopByHop(req);
  const headers = req.headers;
  if (req.httpVersionMajor === 2) {
    pinRequestLine(req);
    fromHttp2(headers);
  }
  const isTrusted = trusted.has(peer);
  const forwardedFor = headers['x-forwarded-for'];
  headers['x-forwarded-for'] = isTrusted && forwardedFor ? `${forwardedFor}, ${peer}` : peer;
  if (!(isTrusted && headers['x-forwarded-proto'])) headers['x-forwarded-proto'] = proto;
  if (!(isTrusted && headers['x-forwarded-host']) && headers.host !== undefined) headers['x-forwarded-host'] = headers.host;
  headers['x-request-id'] = requestId;
}

/**
 * An HTTP/2 compat request reads `method` and `url` from its `:method` / `:path` headers, and its
 * `url` setter writes `:path` back: own properties keep both once the pseudo-headers are gone.
 */
function pinRequestLine(req: IncomingMessage): void {
  const method = req.method;
  const url = req.url;
  Object.defineProperty(req, 'method', { value: method, writable: true, configurable: true, enumerable: true });
  Object.defineProperty(req, 'url', { value: url, writable: true, configurable: true, enumerable: true });
}

/**
 * An HTTP/2 request's header block made into an HTTP/1.1-style one, in place: the
 * pseudo-headers go (`:authority` becomes Host; method and path travel separately).
 */
function fromHttp2(headers: IncomingHttpHeaders): void {
  const authority = headers[':authority'];
  if (typeof authority === 'string') headers.host = authority;
  for (const name of Object.keys(headers)) if (name.charCodeAt(0) === 58 /* ':' */) delete headers[name];
}

