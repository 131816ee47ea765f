/**
 * One gRPC health check (grpc.health.v1.Health/Check) over HTTP/2 cleartext or TLS:
 * SERVING passes; any other serving status, a non-zero grpc-status, a timeout or a
 * connection failure fails. Used by active checks (`type: grpc`) and the sidecar's
 * `--check-grpc`.
 *
 * The two messages are one field each, so they are encoded by hand rather than with
 * a protobuf library: HealthCheckRequest { string service = 1 } and
 * HealthCheckResponse { ServingStatus status = 1 } (SERVING = 1).
 */
import http2 from 'node:http2';

export const GRPC_HEALTH_PATH = '/grpc.health.v1.Health/Check';
const SERVING = 1;

export interface GrpcProbeOptions {
  host: string;
  port: number;
  /** The service name asked about; "" = the server as a whole. */
  service: string;
  timeoutMs: number;
  tls?: boolean;
}

/** Resolves with undefined when SERVING, else with a short reason. Never rejects. */
export function probeGrpcHealth(options: GrpcProbeOptions): { result: Promise<string | undefined>; cancel: () => void } {
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const session = http2.connect(`${options.tls ? 'https' : 'http'}://${host}:${options.port}`);
  let settle!: (reason: string | undefined) => void;
  const result = new Promise<string | undefined>((resolve) => (settle = resolve));
  let done = false;
  const finish = (reason: string | undefined): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    session.destroy();
    settle(reason);
  };
  const timer = setTimeout(() => finish(`no answer within ${options.timeoutMs} ms`), options.timeoutMs);
  session.on('error', (err) => finish(err.message));

  const stream = session.request({
    ':method': 'POST',
    ':path': GRPC_HEALTH_PATH,
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  const chunks: Buffer[] = [];
  let grpcStatus: string | undefined;
  stream.on('response', (headers) => {
    if (headers[':status'] !== 200) finish(`HTTP status ${String(headers[':status'])}`);
    else if (headers['grpc-status'] !== undefined) grpcStatus = String(headers['grpc-status']);
  });
  stream.on('trailers', (trailers) => {
    if (trailers['grpc-status'] !== undefined) grpcStatus = String(trailers['grpc-status']);
  });
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('error', (err) => finish(err.message));
  stream.on('end', () => {
    if (grpcStatus !== '0') return finish(`grpc-status ${grpcStatus ?? 'missing'}`);
    const status = servingStatus(Buffer.concat(chunks));
    finish(status === SERVING ? undefined : `serving status ${status ?? 'unreadable'}`);
  });
  stream.end(frame(encodeRequest(options.service)));
  return { result, cancel: () => finish('cancelled') };
}

/** HealthCheckRequest: field 1 (length-delimited) = service, omitted when empty. */
function encodeRequest(service: string): Buffer {
  if (service === '') return Buffer.alloc(0);
  const name = Buffer.from(service, 'utf8');
  return Buffer.concat([Buffer.from([0x0a]), varint(name.length), name]);
}

/** gRPC length-prefixed message: uncompressed flag, 4-byte big-endian length, bytes. */
function frame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let v = value;
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

/** The `status` field of the first framed HealthCheckResponse; undefined when unreadable. */
export function servingStatus(body: Buffer): number | undefined {
  if (body.length < 5 || body[0] !== 0) return undefined;
  const length = body.readUInt32BE(1);
  const message = body.subarray(5, 5 + length);
  if (message.length !== length) return undefined;
  // Field 1, varint (tag byte 0x08); an absent field is the default, UNKNOWN (0).
  for (let i = 0; i < message.length; ) {
    const tag = message[i++]!;
    let value = 0;
    let shift = 0;
    if ((tag & 0x07) !== 0) return undefined; // only varint fields are expected
    for (;;) {
      const byte = message[i++];
      if (byte === undefined) return undefined;
      value |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) break;
      shift += 7;
      if (shift > 28) return undefined;
    }
    if (tag === 0x08) return value;
  }
  return 0;
}
