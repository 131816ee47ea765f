/**
 * OpenTelemetry tracing end to end: the real proxy with the official SDK and
 * OTLP/HTTP exporter, a real receiver decoding what it sends, real backends
 * that show the trace context they received.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startApp, type TestApp } from '../helpers/app.js';
import { startBackend, type Backend, type EchoReply } from '../helpers/backends.js';
import { echoClient, startGrpcBackend, unary, grpc, type GrpcBackend } from '../helpers/grpc.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js';
import { deadPort } from '../helpers/ports.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';
import { startWsBackend, type WsBackend } from './stream-harness.js';

const SERVER = 2;
const CLIENT = 3;

let receiver: OtlpReceiver;
let backend: Backend;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  backend = await startBackend({ name: 'orders-1' });
});

afterAll(async () => {
  await Promise.all([receiver.close(), backend.close()]);
});

function get(port: number, host: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/items?x=1', headers: { host, ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

async function proxyWith(tracing: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<TestApp> {
  const proxy = await startApp({ tracing: { otlpEndpoint: receiver.url, ...tracing }, ...extra });
  await proxy.register({ service: 'orders', id: 'orders-1', host: '127.0.0.1', port: backend.port });
  return proxy;
}

const spansOf = (traceId: string): ReceivedSpan[] => receiver.spans.filter((span) => span.traceId === traceId);

describe('tracing', () => {
  it('continues a sampled caller trace: server span under the caller, a client span per attempt, the backend under that', async () => {
    const accessLog = path.join(tempDir('tracing'), 'access.log');
    // sampleRatio 0: only the caller's sampled flag can make this request traced (parent-based).
    const proxy = await proxyWith({ sampleRatio: 0 }, { accessLog });
    const traceId = randomBytes(16).toString('hex');
    const callerSpan = randomBytes(8).toString('hex');
    const { status, body } = await get(proxy.port, 'orders.localhost', { traceparent: `00-${traceId}-${callerSpan}-01`, tracestate: 'vendor=abc' });
    expect(status).toBe(200);
    const seen = (JSON.parse(body) as EchoReply).headers;
    const upstream = new RegExp(`^00-${traceId}-([0-9a-f]{16})-01$`).exec(String(seen.traceparent));
    expect(upstream, `traceparent the backend received: ${String(seen.traceparent)}`).not.toBeNull();
    expect(seen.tracestate).toBe('vendor=abc');
    await proxy.stop(); // flushes the exporter

    const spans = spansOf(traceId);
    const server = spans.find((span) => span.kind === SERVER)!;
    const client = spans.find((span) => span.kind === CLIENT)!;
    expect(spans).toHaveLength(2);
    expect(server.parentSpanId).toBe(callerSpan);
    expect(server.serviceName).toBe('waypost');
    expect(server.name).toBe('GET convention');
    expect(server.attributes).toMatchObject({
      'http.request.method': 'GET',
      'url.path': '/items',
      'waypost.service': 'orders',
      'waypost.route': 'convention',
      'http.response.status_code': 200,
    });
    expect(client.parentSpanId).toBe(server.spanId);
    expect(client.spanId).toBe(upstream![1]);
    expect(client.attributes).toMatchObject({ 'waypost.instance': `127.0.0.1:${backend.port}`, 'waypost.retry': 0, 'http.response.status_code': 200 });
    const line = JSON.parse(readFileSync(accessLog, 'utf8').trim().split('\n').at(-1)!) as { traceId?: string };
    expect(line.traceId).toBe(traceId);
  });

  it("leaves an unsampled caller's context untouched and records nothing", async () => {
    const proxy = await proxyWith({ sampleRatio: 1 });
    const traceparent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-00`;
    const { body } = await get(proxy.port, 'orders.localhost', { traceparent });
    expect((JSON.parse(body) as EchoReply).headers.traceparent).toBe(traceparent);
    await proxy.stop();
    expect(spansOf(traceparent.slice(3, 35))).toEqual([]);
  });

  it('starts new traces for about sampleRatio of the requests without a context (2,000 requests)', async () => {
    const proxy = await proxyWith({ sampleRatio: 0.1 }, { accessLog: 'off' });
    const marker = `ratio-${randomBytes(4).toString('hex')}`;
    let traced = 0;
    for (let sent = 0; sent < 2000; sent += 50) {
      const replies = await Promise.all(Array.from({ length: 50 }, () => get(proxy.port, 'orders.localhost', { 'x-marker': marker })));
      traced += replies.filter((reply) => (JSON.parse(reply.body) as EchoReply).headers.traceparent !== undefined).length;
    }
    await proxy.stop();
    const servers = receiver.spans.filter((span) => span.kind === SERVER && span.attributes['url.path'] === '/items');
    // Binomial(2000, 0.1): mean 200, sd 13.4; ±60 is 4.5 sd.
    expect(traced).toBeGreaterThan(140);
    expect(traced).toBeLessThan(260);
    // Every traced request (and only those) sent its context upstream and exported a server span.
    const tracedIds = new Set(servers.map((span) => span.traceId));
    expect(tracedIds.size).toBeGreaterThanOrEqual(traced);
  });

  it('records every upstream attempt as its own client span, with the failure of the first', async () => {
    const proxy = await startApp({ tracing: { otlpEndpoint: receiver.url, sampleRatio: 1 }, retries: 2 });
    // Round-robin starts at the first instance: the dead one, then the live one.
    await proxy.register({ service: 'flaky', id: 'flaky-dead', host: '127.0.0.1', port: await deadPort() });
    await proxy.register({ service: 'flaky', id: 'flaky-live', host: '127.0.0.1', port: backend.port });
    const replies = await Promise.all([1, 2].map(() => get(proxy.port, 'flaky.localhost')));
    expect(replies.map((reply) => reply.status)).toEqual([200, 200]);
    await proxy.stop();
    const servers = receiver.spans.filter((span) => span.kind === SERVER && span.attributes['waypost.service'] === 'flaky');
    expect(servers).toHaveLength(2);
    const retried = servers
      .map((server) => receiver.spans.filter((span) => span.parentSpanId === server.spanId))
      .find((clients) => clients.length === 2);
    expect(retried, 'a request whose first attempt hit the dead instance').toBeDefined();
    const [first, second] = [...retried!].sort((a, b) => Number(a.attributes['waypost.retry']) - Number(b.attributes['waypost.retry']));
    expect(first!.attributes).toMatchObject({ 'waypost.retry': 0, 'error.type': 'connect_refused' });
    expect(first!.statusCode).toBe(2);
    expect(second!.attributes).toMatchObject({ 'waypost.retry': 1, 'http.response.status_code': 200 });
  });

  it('serves every request when the collector is down, dropping and counting spans', async () => {
    const proxy = await startApp({ tracing: { otlpEndpoint: `http://127.0.0.1:${await deadPort()}/v1/traces`, sampleRatio: 1, maxQueueSize: 20 } });
    await proxy.register({ service: 'orders', id: 'orders-1', host: '127.0.0.1', port: backend.port });
    for (let round = 0; round < 6; round++) {
      const replies = await Promise.all(Array.from({ length: 50 }, () => get(proxy.port, 'orders.localhost')));
      expect(replies.every((reply) => reply.status === 200)).toBe(true);
    }
    const dropped = await waitFor(
      'dropped spans counted',
      async () => {
        const metric = await proxy.app.metrics.registry.getSingleMetric('waypost_tracing_spans_total')!.get();
        const value = metric.values.find((v) => v.labels.result === 'dropped')?.value ?? 0;
        return value >= 280 ? value : undefined;
      },
      { timeoutMs: 15_000 },
    );
    // 300 requests × 2 spans; at most maxQueueSize can still be waiting.
    expect(dropped).toBeGreaterThanOrEqual(280);
    await proxy.stop();
  });

  it('traces a WebSocket upgrade (the handshake) and a gRPC call with its grpc-status', async () => {
    let ws: WsBackend | undefined;
    let grpcBackend: GrpcBackend | undefined;
    const proxy = await startApp({ tracing: { otlpEndpoint: receiver.url, sampleRatio: 1 } });
    try {
      ws = await startWsBackend('chat-1');
      grpcBackend = await startGrpcBackend('echo-1');
      await proxy.register({ service: 'chat', id: 'chat-1', host: '127.0.0.1', port: ws.port });
      await proxy.register({ service: 'echo', id: 'echo-1', host: '127.0.0.1', port: grpcBackend.port, protocol: 'h2c' });
      const socket = new WebSocket(`ws://127.0.0.1:${proxy.port}/room`, { headers: { host: 'chat.localhost' } });
      const reply = await new Promise<string>((resolve, reject) => {
        socket.once('open', () => socket.send('who'));
        socket.once('message', (data) => resolve(String(data)));
        socket.once('error', reject);
      });
      expect(reply).toBe('chat-1');
      socket.close();
      const client = echoClient(`127.0.0.1:${proxy.port}`, 'echo.localhost');
      try {
        await unary(client, { text: 'hi' });
      } finally {
        client.close();
      }
    } finally {
      await proxy.stop();
      await ws?.close();
      await grpcBackend?.close();
    }
    const upgrade = receiver.spans.find((span) => span.kind === SERVER && span.attributes['waypost.service'] === 'chat');
    expect(upgrade?.attributes).toMatchObject({ 'http.response.status_code': 101, 'network.protocol.name': 'websocket' });
    expect(receiver.spans.some((span) => span.kind === CLIENT && span.parentSpanId === upgrade!.spanId)).toBe(true);
    const call = receiver.spans.find((span) => span.kind === SERVER && span.attributes['waypost.service'] === 'echo');
    expect(call?.attributes).toMatchObject({ 'rpc.grpc.status_code': grpc.status.OK, 'network.protocol.name': 'HTTP/2' });
  });
});
