/**
 * gRPC instances coming and going under real calls: a backend's GOAWAY, draining
 * (new calls move away, an open stream finishes or is ended with UNAVAILABLE after
 * drainTimeout), a backend killed mid-stream, and the `type: grpc` active check.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { waitFor } from '../helpers/wait.js';
import { echoClient, grpc, startGrpcBackend, unary, type EchoReply, type GrpcBackend } from '../helpers/grpc.js';

let proxy: TestApp | undefined;
let backends: GrpcBackend[] = [];
let clients: grpc.Client[] = [];

afterEach(async () => {
  for (const client of clients) client.close();
  clients = [];
  await proxy?.stop();
  proxy = undefined;
  await Promise.all(backends.map((b) => b.close()));
  backends = [];
});

/** A proxy with `names` registered as h2c instances of `echo`, and a client for it. */
async function setup(names: string[], overrides: Partial<ConfigInput> = {}): Promise<{ app: TestApp; client: ReturnType<typeof echoClient> }> {
  backends = await Promise.all(names.map((name) => startGrpcBackend(name)));
  proxy = await startApp(overrides);
  for (const b of backends) await proxy.register({ service: 'echo', id: b.name, host: '127.0.0.1', port: b.port, protocol: 'h2c' });
  const client = echoClient(`127.0.0.1:${proxy.port}`, 'echo.localhost');
  clients.push(client);
  return { app: proxy, client };
}

/** A server stream of `count` replies `delayMs` apart; `first` resolves with the first reply. */
function openStream(client: ReturnType<typeof echoClient>, count: number, delayMs: number) {
  const call: grpc.ClientReadableStream<EchoReply> = client.serverStream({ text: 'long', count, delayMs });
  const messages: EchoReply[] = [];
  const first = new Promise<EchoReply>((resolve) => call.once('data', resolve));
  call.on('data', (m: EchoReply) => messages.push(m));
  call.on('error', () => {}); // the status below carries the outcome
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  return { call, messages, first, status };
}

describe('gRPC instances leaving', () => {
  it('loses no call when an instance sends GOAWAY under load', async () => {
    const { client } = await setup(['a', 'b', 'c']);
    const calls: Promise<unknown>[] = [];
    const launch = (n: number): void => {
      for (let i = 0; i < n; i++) calls.push(unary(client, { text: `call ${calls.length}`, delayMs: 50 }, { deadlineMs: 10_000 }));
    };
    launch(100);
    await waitFor('calls in flight on a', () => backends[0]!.calls.unary > 0);
    backends[0]!.goaway(); // graceful: its in-flight calls finish, new ones must go elsewhere
    for (let batch = 0; batch < 10; batch++) {
      launch(20);
      await new Promise((r) => setTimeout(r, 5));
    }
    const results = await Promise.allSettled(calls);
    const failed = results.filter((r) => r.status === 'rejected');
    expect(failed.map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    expect(calls).toHaveLength(300);
  });

  it('draining moves new calls away while an open stream on the instance finishes (long drainTimeout)', async () => {
    const { app, client } = await setup(['a', 'b'], { drainTimeout: '30s' });
    const stream = openStream(client, 15, 100);
    const drained = (await stream.first).instance;
    await app.app.store.setStatus('echo', drained, 'DRAINING');
    await waitFor('the mirror sees DRAINING', () => app.app.mirror.service('echo')?.instances.find((r) => r.id === drained)?.status === 'DRAINING');
    for (let i = 0; i < 20; i++) expect((await unary(client, { text: 'new' })).reply.instance).not.toBe(drained);
    const status = await stream.status;
    expect(status.code).toBe(grpc.status.OK);
    expect(stream.messages).toHaveLength(15);
    expect(stream.messages.every((m) => m.instance === drained)).toBe(true);
  });

  it('with a short drainTimeout an open stream on a draining instance ends UNAVAILABLE, not a hang', async () => {
    const { app, client } = await setup(['a', 'b'], { drainTimeout: '300ms' });
    const stream = openStream(client, 200, 100); // 20 s if left alone
    const drained = (await stream.first).instance;
    const started = Date.now();
    await app.app.store.setStatus('echo', drained, 'DRAINING');
    const status = await stream.status;
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(stream.messages.length).toBeLessThan(200);
  });

  it('an instance killed mid-stream gives the client UNAVAILABLE at once', async () => {
    const { client } = await setup(['a']);
    const stream = openStream(client, 200, 100);
    await stream.first;
    const started = Date.now();
    backends[0]!.kill();
    const status = await stream.status;
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe('active check type grpc', () => {
  it('marks an instance unhealthy on NOT_SERVING and healthy again on SERVING; calls follow', async () => {
    const { app, client } = await setup(['a', 'b'], {
      health: { active: { echo: { type: 'grpc', interval: '100ms', timeout: '1s', passes: 1, fails: 1 } } },
    });
    const verdict = (id: string): boolean | undefined => app.app.pool.peek('echo', id)?.activeHealthy;
    await waitFor('both checked healthy', () => verdict('a') === true && verdict('b') === true);
    backends[0]!.health = 'NOT_SERVING';
    await waitFor('a unhealthy', () => verdict('a') === false);
    for (let i = 0; i < 10; i++) expect((await unary(client, { text: 'x' })).reply.instance).toBe('b');
    backends[0]!.health = 'SERVING';
    await waitFor('a healthy again', () => verdict('a') === true);
    expect(backends[0]!.calls.health).toBeGreaterThan(2);
  });
});
