/**
 * HTTP/2 at the client listeners with real clients: curl with h2c prior knowledge and
 * h2 over TLS (ALPN) reaching an HTTP/1.1 instance and an h2c instance, HTTP/1.1 on the
 * same port, listeners limited by `protocols`, and the rapid-reset guard closing one
 * abusive connection while another client's requests keep succeeding.
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type TestApp } from '../helpers/app.js';
import { tempDir } from '../helpers/temp-dir.js';
import { makeCert } from './stream-harness.js';

const execFileAsync = promisify(execFile);

/** curl's answer: status and body (`-w` appends the status and HTTP version after a marker). */
async function curl(args: string[]): Promise<{ status: number; version: string; body: string }> {
  const { stdout } = await execFileAsync('curl', ['-sS', '--max-time', '5', '-w', '\n@@%{http_code} %{http_version}', ...args]);
  const at = stdout.lastIndexOf('\n@@');
  const [status, version] = stdout.slice(at + 3).split(' ');
  return { status: Number(status), version: version!, body: stdout.slice(0, at) };
}

/** curl that is expected to fail at the protocol level: resolves with its exit code (0 = it did not fail). */
async function curlExitCode(args: string[]): Promise<number> {
  try {
    await execFileAsync('curl', ['-sS', '--max-time', '5', '-o', '/dev/null', ...args]);
    return 0;
  } catch (err) {
    return (err as { code?: number }).code ?? -1;
  }
}

const certs = tempDir('http2-certs');
let proxy: TestApp;
let h1Backend: http.Server;
let h2cBackend: http2.Http2Server;
let ports: { all: number; tls: number; http1Only: number; h2cOnly: number };

beforeAll(async () => {
  h1Backend = http.createServer((req, res) => res.end(`h1 backend: HTTP/${req.httpVersion} ${req.url}`));
  h2cBackend = http2.createServer((req, res) => res.end(`h2c backend: HTTP/${req.httpVersion} ${req.url}`));
  await new Promise<void>((r) => h1Backend.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => h2cBackend.listen(0, '127.0.0.1', r));
  const pair = makeCert(certs, 'proxy', 'web.localhost', ['web.localhost', 'grpc.localhost']);
  proxy = await startApp({
    listen: [
      { address: '127.0.0.1:0' },
      { address: '127.0.0.1:0', tls: true },
      { address: '127.0.0.1:0', protocols: ['http1'] },
      { address: '127.0.0.1:0', protocols: ['h2c'] },
    ] as never,
    tls: { certificates: [{ hosts: ['web.localhost', 'grpc.localhost'], cert: pair.certFile, key: pair.keyFile, default: true }] },
    limits: { http2: { maxResetsPerSecond: 50 } },
  });
  const listeners = proxy.app.addresses.http;
  ports = { all: listeners[0]!.port, tls: listeners[1]!.port, http1Only: listeners[2]!.port, h2cOnly: listeners[3]!.port };
  await proxy.register({ service: 'web', id: 'h1', host: '127.0.0.1', port: (h1Backend.address() as AddressInfo).port });
  await proxy.register({ service: 'grpc', id: 'h2c', host: '127.0.0.1', port: (h2cBackend.address() as AddressInfo).port, protocol: 'h2c' });
});

afterAll(async () => {
  await proxy?.stop();
  h1Backend.closeAllConnections();
  await new Promise((r) => h1Backend.close(r));
  await new Promise((r) => h2cBackend.close(r));
});

describe('HTTP/2 clients at the listeners', () => {
  const targets = [
    { host: 'web.localhost', answer: 'h1 backend: HTTP/1.1 /x?y=1' },
    { host: 'grpc.localhost', answer: 'h2c backend: HTTP/2.0 /x?y=1' },
  ];
  for (const { host, answer } of targets) {
    it(`h2c prior knowledge reaches the ${host.split('.')[0]} instance`, async () => {
      const res = await curl(['--http2-prior-knowledge', '-H', `host: ${host}`, `http://127.0.0.1:${ports.all}/x?y=1`]);
      expect(res).toEqual({ status: 200, version: '2', body: answer });
    });

    it(`h2 over TLS (ALPN) reaches the ${host.split('.')[0]} instance`, async () => {
      const res = await curl(['--http2', '-k', '--resolve', `${host}:${ports.tls}:127.0.0.1`, `https://${host}:${ports.tls}/x?y=1`]);
      expect(res).toEqual({ status: 200, version: '2', body: answer });
    });

    it(`HTTP/1.1 on the same port reaches the ${host.split('.')[0]} instance`, async () => {
      const res = await curl(['--http1.1', '-H', `host: ${host}`, `http://127.0.0.1:${ports.all}/x?y=1`]);
      expect(res).toEqual({ status: 200, version: '1.1', body: answer });
    });
  }

  it('an HTTP/2 instance answering status 999 gives the client 502, as the HTTP/1.1 engines do', async () => {
    // node:http2 refuses to send 999, so this instance writes its frames by hand: SETTINGS, the
    // ACK of the proxy's, and one HEADERS frame (END_STREAM | END_HEADERS) on stream 1 whose
    // HPACK block is ":status: 999" (literal, indexed name 8, not indexed).
    const frame = (type: number, flags: number, stream: number, payload: Buffer): Buffer => {
      const head = Buffer.alloc(9);
      head.writeUIntBE(payload.length, 0, 3);
      head[3] = type;
      head[4] = flags;
      head.writeUInt32BE(stream, 5);
      return Buffer.concat([head, payload]);
    };
    const raw = net.createServer((socket) => {
      socket.once('data', () => {
        socket.write(frame(4, 0, 0, Buffer.alloc(0)));
        socket.write(frame(4, 1, 0, Buffer.alloc(0)));
        socket.write(frame(1, 0x5, 1, Buffer.from([0x08, 0x03, ...Buffer.from('999')])));
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    try {
      await proxy.register({ service: 'odd', id: 'o1', host: '127.0.0.1', port: (raw.address() as AddressInfo).port, protocol: 'h2c' });
      // An HTTP/1.1 client: node:http would write 999 through verbatim (it accepts 100-999).
      const res = await curl(['--http1.1', '-H', 'host: odd.localhost', `http://127.0.0.1:${ports.all}/`]);
      expect(res.status).toBe(502);
      expect(JSON.parse(res.body)).toMatchObject({ error: 'upstream_failed' });
    } finally {
      await new Promise((r) => raw.close(r));
    }
  });

  it('a listener with protocols [http1] refuses h2c and serves HTTP/1.1', async () => {
    expect(await curlExitCode(['--http2-prior-knowledge', '-H', 'host: web.localhost', `http://127.0.0.1:${ports.http1Only}/`])).not.toBe(0);
    expect((await curl(['--http1.1', '-H', 'host: web.localhost', `http://127.0.0.1:${ports.http1Only}/`])).status).toBe(200);
  });

  it('a listener with protocols [h2c] refuses HTTP/1.1 and serves h2c', async () => {
    expect(await curlExitCode(['--http1.1', '-H', 'host: web.localhost', `http://127.0.0.1:${ports.h2cOnly}/`])).not.toBe(0);
    expect((await curl(['--http2-prior-knowledge', '-H', 'host: web.localhost', `http://127.0.0.1:${ports.h2cOnly}/`])).status).toBe(200);
  });
});

describe('rapid reset', () => {
  it('closes the connection that opens and resets streams in a flood; another client keeps being served', async () => {
    const attacker = http2.connect(`http://127.0.0.1:${ports.all}`);
    attacker.on('error', () => {});
    const goaway = new Promise<number>((resolve) => attacker.once('goaway', (code: number) => resolve(code)));
    const closed = new Promise<void>((resolve) => attacker.once('close', () => resolve()));
    await new Promise<void>((resolve) => attacker.once('connect', () => resolve()));
    const flood = (async () => {
      for (let i = 0; i < 2000 && !attacker.closed && !attacker.destroyed; i++) {
        try {
          const stream = attacker.request({ ':path': '/flood', ':authority': 'web.localhost' });
          stream.on('error', () => {});
          stream.close(http2.constants.NGHTTP2_CANCEL);
        } catch {
          break; // the session went away under us
        }
        if (i % 50 === 49) await new Promise((r) => setImmediate(r));
      }
    })();

    const honest = http2.connect(`http://127.0.0.1:${ports.all}`);
    honest.on('error', () => {});
    const get = (): Promise<number> =>
      new Promise((resolve, reject) => {
        const stream = honest.request({ ':path': '/ok', ':authority': 'web.localhost' });
        stream.on('response', (headers) => resolve(Number(headers[':status'])));
        stream.on('error', reject);
        stream.resume();
      });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) statuses.push(await get());
      await flood;
      const bounded = await Promise.race([closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('still open'), 5000))]);
      expect(bounded).toBe('closed');
      expect(await Promise.race([goaway, Promise.resolve(-1)])).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      for (let i = 0; i < 20; i++) statuses.push(await get());
      expect(statuses.every((s) => s === 200)).toBe(true);
    } finally {
      attacker.destroy();
      honest.close();
    }
  });
});

describe.each(['undici', 'http-proxy'] as const)('HTTP/2 clients through the %s engine', (engine) => {
  it('reach an HTTP/1.1 instance with their method, path, headers and body', async () => {
    const echo = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => res.end(`${req.method} ${req.url} host=${req.headers.host} x-test=${req.headers['x-test']} body=${Buffer.concat(chunks).toString()}`));
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const viaHttpProxy = await startApp({ engine });
    try {
      await viaHttpProxy.register({ service: 'echo', id: 'e1', host: '127.0.0.1', port: (echo.address() as AddressInfo).port });
      const url = `http://127.0.0.1:${viaHttpProxy.port}/p?q=1`;
      const get = await curl(['--http2-prior-knowledge', '-H', 'host: echo.localhost', '-H', 'x-test: 1', url]);
      expect(get).toEqual({ status: 200, version: '2', body: 'GET /p?q=1 host=echo.localhost x-test=1 body=' });
      const post = await curl(['--http2-prior-knowledge', '-H', 'host: echo.localhost', '--data-binary', 'hello', url]);
      expect(post).toEqual({ status: 200, version: '2', body: 'POST /p?q=1 host=echo.localhost x-test=undefined body=hello' });
    } finally {
      await viaHttpProxy.stop();
      echo.closeAllConnections();
      await new Promise((r) => echo.close(r));
    }
  });
});
