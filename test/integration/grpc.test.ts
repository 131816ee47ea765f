/**
 * gRPC through the proxy with real @grpc/grpc-js clients and servers: balancing of
 * one channel's calls by weight, every call shape with metadata and trailers, the
 * proxy's own errors as gRPC codes (trailers-only, HTTP 200, empty body), the
 * grpc-timeout deadline, and the access-log / metric view of gRPC calls.
 */
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type TestApp } from '../helpers/app.js';
import { echoClient, grpc, rawEchoCall, startGrpcBackend, unary, type EchoReply, type GrpcBackend } from '../helpers/grpc.js';
import { deadPort } from '../helpers/ports.js';
import { tempDir } from '../helpers/temp-dir.js';

const accessLogFile = path.join(tempDir('grpc'), 'access.log');
let proxy: TestApp;
let backends: GrpcBackend[];
let slow: GrpcBackend;
let stubborn: http2.Http2Server;
let client: ReturnType<typeof echoClient>;

beforeAll(async () => {
  proxy = await startApp({ accessLog: accessLogFile, retries: 0 });
  backends = await Promise.all(['a', 'b', 'c'].map((name) => startGrpcBackend(name)));
  const weights = [1, 1, 2];
  for (const [i, b] of backends.entries()) {
    await proxy.register({ service: 'echo', id: b.name, host: '127.0.0.1', port: b.port, protocol: 'h2c', weight: weights[i] });
  }
  slow = await startGrpcBackend('slow');
  await proxy.register({ service: 'slow', id: 'slow', host: '127.0.0.1', port: slow.port, protocol: 'h2c' });
  // A service whose one instance listens nowhere (connect refused), one registered DOWN.
  await proxy.register({ service: 'dead', id: 'dead', host: '127.0.0.1', port: await deadPort(), protocol: 'h2c' });
  await proxy.register({ service: 'down', id: 'down', host: '127.0.0.1', port: slow.port, protocol: 'h2c' });
  await proxy.app.store.setStatus('down', 'down', 'OUT_OF_SERVICE');
  stubborn = await startStubbornBackend();
  await proxy.register({ service: 'stubborn', id: 'stubborn', host: '127.0.0.1', port: (stubborn.address() as AddressInfo).port, protocol: 'h2c' });
  client = echoClient(`127.0.0.1:${proxy.port}`, 'echo.localhost');
});

/** An h2c server that answers any call with 40 empty gRPC messages 50 ms apart, whatever its grpc-timeout. */
async function startStubbornBackend(): Promise<http2.Http2Server> {
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.resume();
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    let sent = 0;
    const timer = setInterval(() => {
      if (stream.closed) return clearInterval(timer);
      stream.write(Buffer.alloc(5));
      if (++sent === 40) {
        clearInterval(timer);
        stream.end();
      }
    }, 50);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

afterAll(async () => {
  client?.close();
  await proxy?.stop();
  await Promise.all([...(backends ?? []), slow].filter(Boolean).map((b) => b.close()));
  await new Promise((resolve) => (stubborn ? stubborn.close(resolve) : resolve(undefined)));
});

function collect<T>(stream: grpc.ClientReadableStream<T>): Promise<{ messages: T[]; metadata: grpc.Metadata | undefined; status: grpc.StatusObject }> {
  return new Promise((resolve, reject) => {
    const messages: T[] = [];
    let metadata: grpc.Metadata | undefined;
    stream.on('metadata', (m: grpc.Metadata) => (metadata = m));
    stream.on('data', (m: T) => messages.push(m));
    stream.on('error', reject);
    stream.on('status', (status: grpc.StatusObject) => resolve({ messages, metadata, status }));
  });
}

describe('gRPC through the proxy', () => {
  it('spreads one channel’s 300 unary calls over three h2c instances by weight (1:1:2)', async () => {
    const seen: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 30; i++) {
      const replies = await Promise.all(Array.from({ length: 10 }, (_, j) => unary(client, { text: `call ${i * 10 + j}` })));
      for (const { reply } of replies) seen[reply.instance]!++;
    }
    expect(seen.a! + seen.b! + seen.c!).toBe(300);
    // Expected 75 / 75 / 150; ±20 % allows for the balancer's start and in-flight timing.
    for (const name of ['a', 'b']) expect(seen[name]).toBeGreaterThan(60);
    for (const name of ['a', 'b']) expect(seen[name]).toBeLessThan(90);
    expect(seen.c).toBeGreaterThan(120);
    expect(seen.c).toBeLessThan(180);
  });

  it('passes a unary reply with its metadata (incl. -bin) and an application error status', async () => {
    const { reply, metadata, trailers } = await unary(client, { text: 'hello' });
    expect(reply.text).toBe('hello');
    expect(metadata?.get('trace-bin')[0]).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(trailers?.get('trailer-bin')[0]).toEqual(Buffer.from([9, 8, 7]));
    await expect(unary(client, { text: 'fail' })).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION, details: 'asked to fail' });
  });

  it('server-streams 1,000 messages intact, with response metadata and status OK', async () => {
    const { messages, metadata, status } = await collect<EchoReply>(client.serverStream({ text: 'tick', count: 1000 }));
    expect(status.code).toBe(grpc.status.OK);
    expect(messages).toHaveLength(1000);
    expect(messages.every((m, i) => m.index === i && m.text === 'tick')).toBe(true);
    expect(metadata?.get('trace-bin')[0]).toEqual(Buffer.from([0, 1, 2, 255]));
  });

  it('client-streams 1,000 messages intact', async () => {
    const reply = await new Promise<EchoReply>((resolve, reject) => {
      const call = client.clientStream((err: grpc.ServiceError | null, r: EchoReply) => (err ? reject(err) : resolve(r)));
      for (let i = 0; i < 1000; i++) call.write({ text: `${i % 10}` });
      call.end();
    });
    expect(reply.index).toBe(1000);
    expect(reply.text).toBe('0123456789'.repeat(100));
  });

  it('bidi-streams 1,000 messages intact, with response metadata and status OK', async () => {
    const call = client.bidi();
    const done = collect<EchoReply>(call);
    for (let i = 0; i < 1000; i++) call.write({ text: `m${i}` });
    call.end();
    const { messages, metadata, status } = await done;
    expect(status.code).toBe(grpc.status.OK);
    expect(messages.map((m) => m.text)).toEqual(Array.from({ length: 1000 }, (_, i) => `m${i}`));
    expect(metadata?.get('x-instance')).toHaveLength(1);
    expect(metadata?.get('trace-bin')[0]).toEqual(Buffer.from([0, 1, 2, 255]));
  });
});

describe('the proxy’s own answers to gRPC calls', () => {
  const cases = [
    { name: 'no route', authority: 'nothing.localhost', code: grpc.status.UNIMPLEMENTED },
    { name: 'no healthy instance', authority: 'down.localhost', code: grpc.status.UNAVAILABLE },
    { name: 'connect failure', authority: 'dead.localhost', code: grpc.status.UNAVAILABLE },
  ];
  for (const { name, authority, code } of cases) {
    it(`${name} → ${grpc.status[code]} for a grpc-js client, trailers-only with HTTP 200 and no body`, async () => {
      const other = echoClient(`127.0.0.1:${proxy.port}`, authority);
      try {
        await expect(unary(other, { text: 'x' }, { deadlineMs: 5000 })).rejects.toMatchObject({ code });
      } finally {
        other.close();
      }
      const raw = await rawEchoCall(proxy.port, authority, 'unary', { text: 'x' });
      expect(raw.status).toBe(200);
      expect(raw.trailersOnly).toBe(true);
      expect(raw.headers['grpc-status']).toBe(String(code));
      expect(raw.body).toHaveLength(0);
    });
  }

  it('deadline → DEADLINE_EXCEEDED for a grpc-js client', async () => {
    const other = echoClient(`127.0.0.1:${proxy.port}`, 'slow.localhost');
    try {
      await expect(unary(other, { text: 'x', delayMs: 2000 }, { deadlineMs: 200 })).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
    } finally {
      other.close();
    }
  });

  it('grpc-timeout 200m on a 2 s method: the proxy answers DEADLINE_EXCEEDED in time, the upstream is told less', async () => {
    const raw = await rawEchoCall(proxy.port, 'slow.localhost', 'unary', { text: 'x', delayMs: 2000 }, { 'grpc-timeout': '200m' });
    expect(raw.status).toBe(200);
    expect(raw.trailersOnly).toBe(true);
    expect(raw.headers['grpc-status']).toBe(String(grpc.status.DEADLINE_EXCEEDED));
    expect(raw.ms).toBeGreaterThanOrEqual(150);
    expect(raw.ms).toBeLessThan(1500);
    expect(slow.lastDeadlineMs).toBeLessThanOrEqual(200);
    expect(slow.lastDeadlineMs).toBeGreaterThan(0);
  });

  it('grpc-timeout also ends a call whose replies already flow, from a backend that ignores it', async () => {
    // A reply every 50 ms for 2 s: each one would reset an idle timer, the deadline does not move.
    const raw = await rawEchoCall(proxy.port, 'stubborn.localhost', 'serverStream', { text: 'x' }, { 'grpc-timeout': '300m' });
    expect(raw.status).toBe(200);
    expect(raw.trailersOnly).toBe(false);
    expect(raw.body.length).toBeGreaterThan(0);
    expect(raw.trailers['grpc-status']).toBe(String(grpc.status.DEADLINE_EXCEEDED));
    expect(raw.ms).toBeGreaterThanOrEqual(250);
    expect(raw.ms).toBeLessThan(1500);
  });
});

describe('gRPC in the access log and metrics', () => {
  it('logs protocol and grpcStatus, and counts waypost_grpc_responses_total by service and code', async () => {
    await unary(client, { text: 'logged' });
    await expect(unary(client, { text: 'fail' })).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
    await rawEchoCall(proxy.port, 'nothing.localhost', 'unary', { text: 'x' });
    const text = await proxy.app.metrics.text();
    expect(text).toMatch(/waypost_grpc_responses_total\{service="echo",grpc_code="0"\} \d+/);
    expect(text).toMatch(/waypost_grpc_responses_total\{service="echo",grpc_code="9"\} [1-9]/);
    expect(text).toMatch(/waypost_grpc_responses_total\{service="_unrouted",grpc_code="12"\} [1-9]/);
    // The access log is written asynchronously.
    let entries: Record<string, unknown>[] = [];
    for (let i = 0; i < 100; i++) {
      entries = readFileSync(accessLogFile, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
      if (entries.some((e) => e.host === 'nothing.localhost')) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(entries.find((e) => e.service === 'echo' && e.grpcStatus === 0)).toMatchObject({ protocol: 'HTTP/2', status: 200 });
    expect(entries.find((e) => e.service === 'echo' && e.grpcStatus === 9)).toMatchObject({ protocol: 'HTTP/2', status: 200 });
    expect(entries.find((e) => e.host === 'nothing.localhost')).toMatchObject({ protocol: 'HTTP/2', status: 200, grpcStatus: 12, error: 'no_route' });
  });
});
