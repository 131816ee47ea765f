/**
 * Responses the proxy makes itself (DESIGN §5): small JSON bodies with a clear
 * message and an `x-waypost-error` header. Never a stack trace. When the
 * response head already went out, the only honest signal left is cutting the
 * connection.
 */
import { STATUS_CODES, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { UpstreamErrorReason } from '../metrics.js';

export const PROXY_ERRORS = {
  no_route: { status: 404, message: 'No route matches this host and path.' },
  no_healthy_instance: { status: 503, message: 'The service has no healthy instance right now; try again shortly.' },
  upstream_failed: { status: 502, message: 'The upstream instance could not be reached or failed to answer.' },
  upstream_timeout: { status: 504, message: 'The upstream instance did not answer in time.' },
  body_too_large: { status: 413, message: 'The request body is larger than the proxy accepts.' },
  headers_too_large: { status: 431, message: 'The request headers are larger than the proxy accepts.' },
  request_timeout: { status: 408, message: 'The request headers did not arrive in time.' },
  bad_request: { status: 400, message: 'The request could not be parsed.' },
  bad_request_target: { status: 400, message: 'The request target must be a path starting with "/" or an absolute http(s) URI without user info.' },
  bad_host: {
    status: 400,
    message: 'The request must carry exactly one Host header, naming the same authority as an absolute request target.',
  },
  loop_detected: {
    status: 508,
    message:
      'This request already passed through this proxy, or through more proxies than allowed (Via): an instance is registered at a proxy address.',
  },
  rate_limited: { status: 429, message: 'Too many requests for this route; slow down and retry after the time Retry-After gives.' },
  overloaded: { status: 503, message: 'The service is at its concurrency limit and the queue is full; try again shortly.' },
  forbidden: { status: 403, message: 'This client address may not use this route.' },
  auth_unavailable: { status: 503, message: 'The authentication service could not be reached or did not answer in time; try again shortly.' },
  bad_upgrade: {
    status: 400,
    message: 'The WebSocket upgrade request is malformed: it needs GET, a valid Sec-WebSocket-Key and Sec-WebSocket-Version: 13.',
  },
} as const;
export type ProxyErrorCode = keyof typeof PROXY_ERRORS;

const TIMEOUT_REASONS: ReadonlySet<UpstreamErrorReason> = new Set(['connect_timeout', 'header_timeout', 'idle_timeout']);

/** The answer to a failed upstream attempt, for HTTP and WebSocket alike: a timeout in any phase is 504 (as nginx), anything else 502. */
export function proxyErrorFor(reason: UpstreamErrorReason): 'upstream_timeout' | 'upstream_failed' {
  return TIMEOUT_REASONS.has(reason) ? 'upstream_timeout' : 'upstream_failed';
}

/** Pre-rendered bodies: nothing is serialised per error response. */
const BODIES = Object.fromEntries(
  Object.entries(PROXY_ERRORS).map(([code, { message }]) => [code, Buffer.from(JSON.stringify({ error: code, message }))]),
) as Record<ProxyErrorCode, Buffer>;

/** Sends a proxy-made error, or destroys the connection if the head was already sent. Returns the status. */
export function sendProxyError(res: ServerResponse, code: ProxyErrorCode, closeConnection = false): number {
  const { status } = PROXY_ERRORS[code];
  if (res.headersSent) {
    res.destroy();
    return status;
  }
  const body = BODIES[code];
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', body.length);
  res.setHeader('x-waypost-error', code);
  if (status === 503 && !res.hasHeader('retry-after')) res.setHeader('retry-after', '1');
  // The rest of an unread request body would be parsed as the next request.
  if (closeConnection) res.setHeader('connection', 'close');
  res.end(body);
  return status;
}

/** Answers a request Node's parser rejected (no ServerResponse exists), then closes the socket. */
/** `requestId`: echoed as X-Request-Id when the request got that far (WebSocket upgrades). */
export function writeRawProxyError(socket: Duplex, code: ProxyErrorCode, requestId?: string, headers?: OutgoingHttpHeaders): void {
  const { status } = PROXY_ERRORS[code];
  // Also used on upgrade requests (no ServerResponse there either), so any code may come here.
  writeRawResponse(
    socket,
    status,
    {
      'content-type': 'application/json',
      'x-waypost-error': code,
      ...(status === 503 ? { 'retry-after': '1' } : {}),
      ...(requestId === undefined ? {} : { 'x-request-id': requestId }),
      ...headers,
    },
    BODIES[code],
  );
}

/** CR or LF in a value would split the head: such a field is left out (second layer: config and llhttp refuse them first). */
const SPLITS_HEAD = /[\r\n]/;

/**
 * A whole response on a socket that has no ServerResponse (upgrade requests, errors before the
 * parser hands a request over): status, headers, body, then the connection closes.
 */
export function writeRawResponse(socket: Duplex, status: number, headers: OutgoingHttpHeaders, body: Buffer | string = ''): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const payload = typeof body === 'string' ? Buffer.from(body) : body;
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n`;
  for (const name in headers) {
    const value = headers[name];
    const lower = name.toLowerCase();
    if (value === undefined || lower === 'content-length' || lower === 'connection' || lower === 'transfer-encoding') continue;
    for (const one of Array.isArray(value) ? value : [value]) {
      const text = String(one);
      if (!SPLITS_HEAD.test(name) && !SPLITS_HEAD.test(text)) head += `${name}: ${text}\r\n`;
    }
  }
  socket.end(Buffer.concat([Buffer.from(`${head}content-length: ${payload.length}\r\nconnection: close\r\n\r\n`, 'latin1'), payload]));
}
