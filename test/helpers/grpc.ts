/**
 * Real gRPC servers and clients for the HTTP/2 suites (@grpc/grpc-js, the official
 * Node implementation): an Echo service with every call shape, and grpc.health.v1
 * with a settable serving status. Servers bind 127.0.0.1 on an ephemeral port.
 */
import path from 'node:path';
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
    goaway: () => {
      // grpc-js has no public GOAWAY; a graceful shutdown sends one and lets calls finish.
      server.tryShutdown(() => {});
    },
    kill: () => server.forceShutdown(),
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
  const delayed = (ms: number | undefined, fn: () => void): void => {
    if (ms && ms > 0) setTimeout(fn, ms);
    else fn();
  };
  server.addService(EchoClient.service, {
    unary: (call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) => {
      calls.unary++;
      const text = call.request.text ?? '';
      if (text === 'fail') return callback({ code: grpc.status.FAILED_PRECONDITION, details: 'asked to fail' });
      const metadata = new grpc.Metadata();
      metadata.set('x-instance', name);
      metadata.set('trace-bin', Buffer.from([0, 1, 2, 255]));
      delayed(call.request.delayMs, () => callback(null, { text, instance: name, index: 0 }, metadata));
    },
    serverStream: (call: grpc.ServerWritableStream<EchoRequest, EchoReply>) => {
      calls.serverStream++;
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
export function unary(client: Record<string, any>, request: EchoRequest, options: { deadlineMs?: number; metadata?: grpc.Metadata } = {}): Promise<{ reply: EchoReply; metadata: grpc.Metadata | undefined }> {
  return new Promise((resolve, reject) => {
    let metadata: grpc.Metadata | undefined;
    const callOptions = options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs };
    const call = client.unary(request, options.metadata ?? new grpc.Metadata(), callOptions, (err: grpc.ServiceError | null, reply: EchoReply) =>
      err ? reject(err) : resolve({ reply, metadata }),
    );
    call.on('metadata', (m: grpc.Metadata) => (metadata = m));
  });
}

export { grpc };
