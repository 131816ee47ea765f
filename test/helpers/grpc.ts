/**
 * Real gRPC servers and clients for the HTTP/2 suites (@grpc/grpc-js, the official
 * Node implementation): an Echo service with every call shape, and grpc.health.v1
 * with a settable serving status. Servers bind 127.0.0.1 on an ephemeral port.
 */
import http2 from 'node:http2';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const PROTO_DIR = path.resolve(import.meta.dirname, '../fixtures/proto');
const LOAD_OPTIONS: protoLoader.Options = { keepCase: false, longs: Number, enums: String, defaults: true };

/* eslint-disable @typescript-eslint/no-explicit-any */
const echoPackage = grpc.loadPackageDefinition(protoLoader.loadSync(path.join(PROTO_DIR, 'echo.proto'), LOAD_OPTIONS)) as any;
const healthPackage = grpc.loadPackageDefinition(protoLoader.loadSync(path.join(PROTO_DIR, 'health.proto'), LOAD_OPTIONS)) as any;
export const EchoClient: grpc.ServiceClientConstructor = echoPackage.waypost.test.Echo;
export const HealthClient: grpc.ServiceClientConstructor = healthPackage.grpc.health.v1.Health;

export interface EchoRequest {
  text?: string;
  delayMs?: number;
  count?: number;
}
export interface EchoReply {
  text: string;
  instance: string;
  index: number;
}

export type ServingStatus = 'SERVING' | 'NOT_SERVING' | 'UNKNOWN';

export interface GrpcBackend {
  readonly name: string;
  readonly port: number;
  /** Calls received, by method. */
  readonly calls: Record<'unary' | 'serverStream' | 'clientStream' | 'bidi' | 'health', number>;
  health: ServingStatus;
  /** The time left of the last call's deadline as it arrived (ms; Infinity = none). */
  lastDeadlineMs: number;
  /** Sends GOAWAY on every open connection (graceful: in-flight calls finish). */
  goaway(): void;
  /** Stops at once: open calls are cut. */
  kill(): void;
  close(): Promise<void>;
}

/** An Echo + Health server named `name` (replies carry the name as `instance`). */
export async function startGrpcBackend(name: string): Promise<GrpcBackend> {
  const server = new grpc.Server();
  const calls = { unary: 0, serverStream: 0, clientStream: 0, bidi: 0, health: 0 };
  const backend = {
    name,
    port: 0,
    calls,
    health: 'SERVING' as ServingStatus,
    lastDeadlineMs: Infinity,
    goaway: () => {
      // grpc-js has no public GOAWAY; a graceful shutdown sends one and lets calls finish.
      server.tryShutdown(() => {});
    },
    kill: () => server.forceShutdown(),
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
  const noteDeadline = (call: { getDeadline(): Date | number }): void => {
    const deadline = call.getDeadline();
    backend.lastDeadlineMs = (deadline instanceof Date ? deadline.getTime() : deadline) - Date.now(); // Infinity stays Infinity
  };
  const replyMetadata = (): grpc.Metadata => {
    const metadata = new grpc.Metadata();
    metadata.set('x-instance', name);
    metadata.set('trace-bin', Buffer.from([0, 1, 2, 255]));
    return metadata;
  };
  const delayed = (ms: number | undefined, fn: () => void): void => {
    if (ms && ms > 0) setTimeout(fn, ms);
    else fn();
  };
  server.addService(EchoClient.service, {
    unary: (call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) => {
      calls.unary++;
      noteDeadline(call);
      const text = call.request.text ?? '';
      if (text === 'fail') return callback({ code: grpc.status.FAILED_PRECONDITION, details: 'asked to fail' });
      // The third argument is trailing metadata: a -bin entry there checks trailers too.
      const trailer = new grpc.Metadata();
      trailer.set('trailer-bin', Buffer.from([9, 8, 7]));
      // The head goes out with the reply: a slow call sends nothing until then.
      delayed(call.request.delayMs, () => {
        call.sendMetadata(replyMetadata());
        callback(null, { text, instance: name, index: 0 }, trailer);
      });
    },
    serverStream: (call: grpc.ServerWritableStream<EchoRequest, EchoReply>) => {
      calls.serverStream++;
      call.sendMetadata(replyMetadata());
      const count = call.request.count ?? 1;
      let index = 0;
      const next = (): void => {
        if (call.cancelled) return;
        if (index >= count) return void call.end();
        call.write({ text: call.request.text ?? '', instance: name, index: index++ });
        delayed(call.request.delayMs, next);
      };
      next();
    },
    clientStream: (call: grpc.ServerReadableStream<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) => {
      calls.clientStream++;
      let joined = '';
      let count = 0;
      call.on('data', (request: EchoRequest) => {
        joined += request.text ?? '';
        count++;
      });
      call.on('end', () => callback(null, { text: joined, instance: name, index: count }));
    },
    bidi: (call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) => {
      calls.bidi++;
      call.sendMetadata(replyMetadata());
      let index = 0;
      call.on('data', (request: EchoRequest) => call.write({ text: request.text ?? '', instance: name, index: index++ }));
      call.on('end', () => call.end());
    },
  });
  server.addService(HealthClient.service, {
    check: (_call: grpc.ServerUnaryCall<{ service: string }, unknown>, callback: grpc.sendUnaryData<{ status: ServingStatus }>) => {
      calls.health++;
      callback(null, { status: backend.health });
    },
  });
  backend.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  return backend;
}

/** An Echo client on one channel to `address` (the proxy), with `authority` as :authority. */
export function echoClient(address: string, authority?: string): grpc.Client & Record<string, any> {
  return new EchoClient(address, grpc.credentials.createInsecure(), {
    ...(authority === undefined ? {} : { 'grpc.default_authority': authority }),
    // One connection: every call must be balanced by the proxy, not by the channel.
    'grpc.use_local_subchannel_pool': 1,
  }) as grpc.Client & Record<string, any>;
}

/** A unary call as a promise; rejects with the grpc-js ServiceError (its `code` is the status). */
export function unary(client: Record<string, any>, request: EchoRequest, options: { deadlineMs?: number; metadata?: grpc.Metadata } = {}): Promise<{ reply: EchoReply; metadata: grpc.Metadata | undefined; trailers: grpc.Metadata | undefined }> {
  return new Promise((resolve, reject) => {
    let metadata: grpc.Metadata | undefined;
    let outcome: { err: grpc.ServiceError | null; reply: EchoReply } | undefined;
    const callOptions = options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs };
    const call = client.unary(request, options.metadata ?? new grpc.Metadata(), callOptions, (err: grpc.ServiceError | null, reply: EchoReply) => {
      outcome = { err, reply };
    });
    call.on('metadata', (m: grpc.Metadata) => (metadata = m));
    // grpc-js calls back, then emits 'status' with the trailers.
    call.on('status', (status: grpc.StatusObject) => {
      if (outcome === undefined || outcome.err) reject(outcome?.err ?? Object.assign(new Error(status.details), status));
      else resolve({ reply: outcome.reply, metadata, trailers: status.metadata });
    });
  });
}

export { grpc };

export interface RawGrpcAnswer {
  /** The :status of the response head. */
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The head ended the stream: a trailers-only answer. */
  trailersOnly: boolean;
  trailers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** Milliseconds from request sent to stream closed. */
  ms: number;
}

/**
 * One Echo call with Node's own http2 client (no grpc-js: no client-side deadline, and
 * the raw frames are visible: trailers-only or not, HTTP status, body bytes).
 */
export function rawEchoCall(
  port: number,
  authority: string,
  method: 'unary' | 'serverStream',
  request: EchoRequest,
  headers: Record<string, string> = {},
  timeoutMs = 10_000,
): Promise<RawGrpcAnswer> {
  const definition = EchoClient.service[method === 'unary' ? 'Unary' : 'ServerStream']!;
  const message = definition.requestSerialize(request) as Buffer;
  const framed = Buffer.alloc(5 + message.length);
  framed.writeUInt32BE(message.length, 1);
  message.copy(framed, 5);
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    session.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    const started = performance.now();
    const stream = session.request({
      ':method': 'POST',
      ':path': definition.path,
      ':authority': authority,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    const answer: RawGrpcAnswer = { status: 0, headers: {}, trailersOnly: false, trailers: {}, body: Buffer.alloc(0), ms: 0 };
    const chunks: Buffer[] = [];
    stream.on('response', (head, flags) => {
      answer.status = Number(head[':status']);
      answer.headers = head;
      answer.trailersOnly = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    stream.on('trailers', (trailers) => (answer.trailers = trailers));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', () => {}); // the close below reports the outcome
    stream.on('close', () => {
      clearTimeout(timer);
      answer.ms = performance.now() - started;
      answer.body = Buffer.concat(chunks);
      session.close();
      resolve(answer);
    });
    stream.end(framed);
  });
}
