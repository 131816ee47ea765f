/**
 * gRPC at the proxy (DESIGN §8): a request whose content-type is application/grpc*
 * gets the proxy's own answers in gRPC's form — HTTP 200, trailers-only, with
 * `grpc-status` and a percent-encoded `grpc-message` — never a JSON body a gRPC
 * client cannot read. Also the `grpc-timeout` header (the call's deadline): parsed
 * here, and re-sent upstream reduced by the time already spent.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';

/** gRPC status codes the proxy itself answers with (grpc/doc/statuscodes.md). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/** The gRPC status for each proxy-made error code; an unlisted code is UNAVAILABLE for 5xx, INTERNAL otherwise. */
const STATUS_BY_ERROR: Readonly<Record<string, number>> = {
  no_route: GrpcStatus.UNIMPLEMENTED,
  no_healthy_instance: GrpcStatus.UNAVAILABLE,
  upstream_failed: GrpcStatus.UNAVAILABLE,
  upstream_timeout: GrpcStatus.DEADLINE_EXCEEDED,
  body_too_large: GrpcStatus.RESOURCE_EXHAUSTED,
  headers_too_large: GrpcStatus.RESOURCE_EXHAUSTED,
  request_timeout: GrpcStatus.DEADLINE_EXCEEDED,
  bad_request: GrpcStatus.INTERNAL,
  loop_detected: GrpcStatus.INTERNAL,
  overloaded: GrpcStatus.RESOURCE_EXHAUSTED,
  rate_limited: GrpcStatus.RESOURCE_EXHAUSTED,
  forbidden: GrpcStatus.PERMISSION_DENIED,
};

export function grpcStatusFor(errorCode: string, httpStatus: number): number {
  return STATUS_BY_ERROR[errorCode] ?? (httpStatus >= 500 ? GrpcStatus.UNAVAILABLE : GrpcStatus.INTERNAL);
}

/** `application/grpc`, `application/grpc+proto`, `application/grpc-web…` are all gRPC (RFC-free: grpc/doc/PROTOCOL-HTTP2.md). */
export function isGrpc(headers: IncomingHttpHeaders): boolean {
  const type = headers['content-type'];
  return type !== undefined && type.startsWith('application/grpc');
}

/** grpc-message is percent-encoded: anything outside printable ASCII, and '%' itself. */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Answers a gRPC call from the proxy: HTTP 200 with the status in a trailers-only
 * response (one HEADERS frame that ends the stream). Returns the gRPC status sent.
 */
export function sendGrpcError(res: ServerResponse, errorCode: string, httpStatus: number, message: string, requestId: string): number {
  const status = grpcStatusFor(errorCode, httpStatus);
  if (res.headersSent) {
    res.destroy();
    return status;
  }
  const headers = {
    'content-type': 'application/grpc',
    'grpc-status': String(status),
    'grpc-message': encodeGrpcMessage(message),
    'x-waypost-error': errorCode,
    'x-request-id': requestId,
  };
  const stream = (res as ServerResponse & { stream?: ServerHttp2Stream }).stream;
  if (stream !== undefined && !stream.headersSent && !stream.destroyed) {
    // HTTP/2: trailers-only, as gRPC clients expect.
    stream.respond({ ':status': 200, ...headers }, { endStream: true });
    return status;
  }
  res.writeHead(200, headers);
  res.end();
  return status;
}

/**
 * Ends a gRPC call whose response head already went out with a status in the trailers
 * (a backend that died mid-stream, a drained instance): the client sees UNAVAILABLE or
 * DEADLINE_EXCEEDED and may retry, where a reset stream would read as INTERNAL.
 */
export function endGrpcCall(res: ServerResponse, status: number, message: string): void {
  if (res.writableEnded || res.destroyed) return;
  (res as ServerResponse & { addTrailers(t: Record<string, string>): void }).addTrailers({
    'grpc-status': String(status),
    'grpc-message': encodeGrpcMessage(message),
  });
  res.end();
}

const TIMEOUT_UNITS_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000001 };

/** `grpc-timeout` (1-8 digits and a unit H M S m u n) in milliseconds; undefined when absent or malformed. */
export function parseGrpcTimeout(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (match === null) return undefined;
  return Number(match[1]) * TIMEOUT_UNITS_MS[match[2]!]!;
}

/** The remaining deadline as a `grpc-timeout` value (whole milliseconds, at least 1). */
export function formatGrpcTimeout(ms: number): string {
  const whole = Math.max(1, Math.ceil(ms));
  return whole <= 99_999_999 ? `${whole}m` : `${Math.min(99_999_999, Math.ceil(whole / 1000))}S`;
}
