/**
 * The raw HTTP/1.1 listener (src/proxy/raw-http1/): what it serves itself, when it hands a
 * connection to node:http (the bytes of that request and all after it re-parsed there), and the
 * framing and timeouts it owes clients. Real sockets: exact bytes in, every response parsed by
 * Node's llhttp out. The whole HTTP and hostile-HTTP suites also run on it and on node:http
 * (proxy-harness.ts SERVINGS); this file covers what only the raw listener has.
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { headersObject } from '../../src/proxy/raw-http1/request.js';
import { createHash } from 'node:crypto';
import { pattern, startBackend, type Backend, type EchoReply } from '../helpers/backends.js';
import { waitFor } from '../helpers/wait.js';
import { Client, type Answer } from '../helpers/http1-client.js';
import { startProxy, type ProxyHarness } from './proxy-harness.js';

const get = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: orders.test\r\n${extra}\r\n`;
const echoed = (answer: Answer): EchoReply => JSON.parse(answer.body) as EchoReply;
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

describe('the raw HTTP/1.1 listener', () => {
  let backend: Backend;
  let proxy: ProxyHarness | undefined;
  let client: Client | undefined;

  beforeAll(async () => {
    backend = await startBackend();
  });
  afterEach(async () => {
    client?.close();
    client = undefined;
    await proxy?.close();
    proxy = undefined;
  });
  afterAll(async () => {
    await backend.close();
  });

  const start = async (overrides = {}): Promise<ProxyHarness> =>
    startProxy('raw', [{ host: 'orders.test', service: 'orders', targets: [backend.address] }], overrides);

  it('serves bodiless requests itself, keeping the connection, with the head node:http would write', async () => {
    proxy = await start();
    client = new Client(proxy.port);
    client.send(get('/one'));
    const first = await client.answer(1);
    client.send(get('/two'));
    const second = await client.answer(2);
    expect(proxy.server.rawHttp1Connections).toBe(1);
    expect(first.status).toBe(200);
    expect(echoed(first).url).toBe('/one');
    expect(echoed(second).url).toBe('/two');
    expect(first.headers.connection).toBe('keep-alive');
    expect(first.headers['keep-alive']).toBe('timeout=5');
    expect(Date.parse(first.headers.date!)).toBeGreaterThan(Date.now() - 60_000);
    // The echo backend answers chunked: so does the proxy.
    expect(first.headers['transfer-encoding']).toBe('chunked');
    // The upstream's hop-by-hop fields stay behind; the request id goes both ways.
    expect(first.headers['x-hop']).toBeUndefined();
    expect(first.headers['x-request-id']).toBe(echoed(first).headers['x-request-id']);
    expect(client.closed).toBe(false);
  });

  it("writes an upstream's head as it came, less its hop-by-hop fields, framed anew (the plain proxied path)", async () => {
    // A hand-written upstream, so the head holds exactly the fields the client side must treat.
    const sockets = new Set<net.Socket>();
    const upstream = net.createServer((socket) => {
      sockets.add(socket);
      socket.once('data', () =>
        socket.write(
          'HTTP/1.1 201 Created\r\nConnection: Keep-Alive\r\nKeep-Alive: timeout=77\r\nX-Kept: 1\r\nTE: trailers\r\nUpgrade: h2c\r\n' +
            'Proxy-Authenticate: Basic\r\nX-Request-ID: from-upstream\r\nDATE: Mon, 07 Dec 2026 06:00:00 GMT\r\nX-Kept: 2\r\n' +
            'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
        ),
      );
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    try {
      const address = `127.0.0.1:${(upstream.address() as net.AddressInfo).port}`;
      proxy = await startProxy('raw', [{ host: 'orders.test', service: 'orders', targets: [address] }]);
      client = new Client(proxy.port);
      client.send(get('/crafted'));
      const answer = await client.answer(1);
      expect(answer.status).toBe(201);
      expect(answer.body).toBe('hello');
      const head = client.received.slice(0, client.received.indexOf('\r\n\r\n') + 2);
      // The upstream's own Date and request id stay; the framing is the proxy's (chunked, no length known).
      expect(head).toBe(
        'HTTP/1.1 201 Created\r\nX-Kept: 1\r\nX-Request-ID: from-upstream\r\nDATE: Mon, 07 Dec 2026 06:00:00 GMT\r\nX-Kept: 2\r\n' +
          'Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n',
      );
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => upstream.close(resolve));
    }
  });

  it('keeps Content-Length bodies byte-exact when their reads share the read buffer with other answers', async () => {
    // Each answer's head and first 3 KiB leave in one write, the rest a moment later: the first
    // part of each is held while the response is corked, in reads other answers reuse after it.
    const bodyFor = (n: number): Buffer => Buffer.from(Array.from({ length: 10_240 }, (_, i) => 97 + ((i * 7 + n) % 26)));
    const sockets = new Set<net.Socket>();
    const upstream = net.createServer((socket) => {
      sockets.add(socket);
      let pending = '';
      socket.on('data', (chunk) => {
        pending += chunk.toString('latin1');
        for (let end = pending.indexOf('\r\n\r\n'); end !== -1; end = pending.indexOf('\r\n\r\n')) {
          const n = Number(/^GET \/(\d+) /.exec(pending)![1]);
          pending = pending.slice(end + 4);
          const body = bodyFor(n);
          socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`), body.subarray(0, 3072)]));
          setTimeout(() => socket.write(body.subarray(3072)), 5 + (n % 4) * 5);
        }
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    try {
      const address = `127.0.0.1:${(upstream.address() as net.AddressInfo).port}`;
      proxy = await startProxy('raw', [{ host: 'orders.test', service: 'orders', targets: [address] }]);
      const clients = Array.from({ length: 12 }, () => new Client(proxy!.port));
      try {
        const answers = await Promise.all(
          clients.map(async (one, c) => {
            const bodies: string[] = [];
            for (let k = 0; k < 3; k++) {
              one.send(get(`/${c * 3 + k}`));
              bodies.push((await one.answer(k + 1)).body);
            }
            return bodies;
          }),
        );
        answers.forEach((bodies, c) => bodies.forEach((body, k) => expect(body === bodyFor(c * 3 + k).toString('latin1'), `answer ${c * 3 + k}`).toBe(true)));
      } finally {
        for (const one of clients) one.close();
      }
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => upstream.close(resolve));
    }
  });

  it('answers pipelined requests in order, one at a time, from a single write', async () => {
    proxy = await start();
    client = new Client(proxy.port);
    client.send(get('/a', 'x-test: slow=80\r\n') + get('/b') + get('/c'), 'GET', 'GET', 'GET');
    await client.answer(3);
    expect(client.answers.map((answer) => echoed(answer).url)).toEqual(['/a', '/b', '/c']);
    expect(proxy.server.rawHttp1Connections).toBe(1);
  });

  it('takes a head that arrives a few bytes at a time', async () => {
    proxy = await start();
    client = new Client(proxy.port);
    const bytes = get('/trickled', 'x-one: 1\r\n');
    for (let i = 0; i < bytes.length; i += 5) {
      client.socket.write(bytes.slice(i, i + 5));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    client.send('', 'GET');
    expect(echoed(await client.answer(1)).url).toBe('/trickled');
    expect(echoed(client.answers[0]!).headers['x-one']).toBe('1');
  });

  it('hands the connection to node:http at a chunked request, mid-pipeline, losing no byte', async () => {
    proxy = await start();
    client = new Client(proxy.port);
    client.send(get('/before'));
    await client.answer(1);
    const chunk = 'x'.repeat(3000);
    client.send(
      `POST /upload HTTP/1.1\r\nHost: orders.test\r\ntransfer-encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n` + get('/after'),
      'POST',
      'GET',
    );
    await client.answer(3);
    const [, upload, after] = client.answers.map(echoed);
    expect(upload!.method).toBe('POST');
    expect(upload!.bodyBytes).toBe(3000);
    expect(after!.url).toBe('/after');
    // node:http serves it now; the connection is still open.
    expect(proxy.server.rawHttp1Connections).toBe(0);
    expect(client.closed).toBe(false);
  });

  it('serves Content-Length bodies itself, buffered or streamed, pipelined or trickled', async () => {
    proxy = await start({ limits: { retryBufferBytes: 1024 } });
    client = new Client(proxy.port);
    const small = pattern(700);
    const large = pattern(200 * 1024);
    const post = (path: string, body: Buffer): Buffer =>
      Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nHost: orders.test\r\ncontent-length: ${body.length}\r\n\r\n`), body]);
    // A buffered body and a streamed one, each followed by a GET, in one write.
    client.send(Buffer.concat([post('/small', small), Buffer.from(get('/one')), post('/large', large), Buffer.from(get('/two'))]), 'POST', 'GET', 'POST', 'GET');
    await client.answer(4);
    // A body trickled in pieces after its head.
    const trickled = post('/trickled', small);
    client.send('', 'POST');
    for (let i = 0; i < trickled.length; i += 97) {
      client.socket.write(trickled.subarray(i, i + 97));
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await client.answer(5);
    const replies = client.answers.map(echoed);
    expect(replies.map((reply) => reply.url)).toEqual(['/small', '/one', '/large', '/two', '/trickled']);
    expect(replies[0]!.bodySha256).toBe(sha256(small));
    expect(replies[2]!.bodyBytes).toBe(large.length);
    expect(replies[2]!.bodySha256).toBe(sha256(large));
    expect(replies[4]!.bodySha256).toBe(sha256(small));
    expect(proxy.server.rawHttp1Connections).toBe(1);
    expect(proxy.accessLog.map((entry) => entry.bytesIn)).toEqual([700, undefined, large.length, undefined, 700]);
  });

  it('keeps what it holds of a read in the shared read buffer: pipelined requests, bodies, a head across reads, a hand-off', async () => {
    // A connection's first bytes come through the socket's stream (the protocol sniff puts them back);
    // every read after lands in the buffer the upstream answers are read into too (net/shared-read-buffer.ts),
    // at its start: each piece below is placed where the next read or answer would overwrite it.
    proxy = await start({ limits: { retryBufferBytes: 1024 } });
    client = new Client(proxy.port);
    const pause = (): Promise<unknown> => new Promise((resolve) => setTimeout(resolve, 20));
    client.send(get('/warm'));
    await client.answer(1);
    client.send(get('/a') + get('/b') + get('/c'), 'GET', 'GET', 'GET');
    await client.answer(4);
    // A buffered body across two reads; the second ends in a long GET held while the POST is answered.
    const body = pattern(700, 3);
    const post = Buffer.from(`POST /post HTTP/1.1\r\nHost: orders.test\r\ncontent-length: ${body.length}\r\n\r\n`);
    client.send(Buffer.concat([post, body.subarray(0, 690)]), 'POST', 'GET');
    await pause();
    client.socket.write(Buffer.concat([body.subarray(690), Buffer.from(get('/d', `x-pad: ${'p'.repeat(400)}\r\n`))]));
    await client.answer(6);
    // A chunked upload's head across reads: the connection moves to node:http with both parts.
    const chunk = 'z'.repeat(3000);
    const upload = `POST /upload HTTP/1.1\r\nHost: orders.test\r\ntransfer-encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`;
    client.send(upload.slice(0, 30), 'POST', 'GET');
    await pause();
    client.socket.write(upload.slice(30) + get('/e'));
    await client.answer(8);
    const replies = client.answers.map(echoed);
    expect(replies.map((reply) => reply.url)).toEqual(['/warm', '/a', '/b', '/c', '/post', '/d', '/upload', '/e']);
    expect(replies[4]!.bodySha256).toBe(sha256(body));
    expect(replies[5]!.headers['x-pad']).toBe('p'.repeat(400));
    expect(replies[6]!.bodyBytes).toBe(3000);
    expect(proxy.server.rawHttp1Connections).toBe(0);
  });

  it('keeps an answer intact while a slow client holds it and other answers reuse the upstream read buffer', async () => {
    // The raw engine reads every upstream connection into one shared buffer: what a client response
    // still holds must be a copy, or the reads that follow overwrite it. An HTTP/2 client that reads
    // nothing holds the proxy to its 64 KiB window, so the rest of the answer queues in the proxy's stream.
    proxy = await start();
    const size = 2 * 1024 * 1024;
    const session = http2.connect(`http://127.0.0.1:${proxy.port}`);
    const stream = session.request({ ':path': '/big', ':authority': 'orders.test', 'x-test': `big=${size}` });
    stream.pause();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const busy = new Client(proxy.port);
    for (let i = 1; i <= 30; i++) {
      busy.send(get(`/busy-${i}`));
      expect(echoed(await busy.answer(i)).url).toBe(`/busy-${i}`);
    }
    busy.close();
    const hash = createHash('sha256');
    let bodyBytes = 0;
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bodyBytes += chunk.length;
      });
      stream.on('end', resolve);
      stream.on('error', reject);
      stream.resume();
    });
    session.close();
    expect(bodyBytes).toBe(size);
    // The backend's pattern repeats every 64 KiB.
    const expected = createHash('sha256');
    const block = pattern(64 * 1024);
    for (let at = 0; at < size; at += block.length) expected.update(block);
    expect(hash.digest('hex')).toBe(expected.digest('hex'));
  });

  it('answers 413 to a body over the limit without reading it and closes; a client leaving mid-body is a 499', async () => {
    proxy = await start({ limits: { maxBodyBytes: 1000 } });
    client = new Client(proxy.port);
    client.send(`POST /big HTTP/1.1\r\nHost: orders.test\r\ncontent-length: 5000\r\n\r\n${'y'.repeat(100)}`, 'POST');
    const refused = await client.answer(1);
    expect(refused.status).toBe(413);
    expect(refused.headers.connection).toBe('close');
    await client.closing();

    const leaving = new Client(proxy.port);
    leaving.send(`POST /gone HTTP/1.1\r\nHost: orders.test\r\ncontent-length: 900\r\n\r\n${'z'.repeat(300)}`, 'POST');
    await waitFor('the request to be in flight', () => proxy!.server.inflight === 1);
    leaving.close();
    await waitFor('the request to be over', () => proxy!.server.inflight === 0);
    expect(proxy.accessLog.at(-1)!.status).toBe(499);
    expect(proxy.server.rawHttp1Connections).toBe(0);
  });

  it('hands off a request that is not plain HTTP/1.1: chunked body, Expect, HTTP/1.0, no Host', async () => {
    proxy = await start();
    const cases: [string, string, number][] = [
      ['chunked', 'POST /c HTTP/1.1\r\nHost: orders.test\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', 200],
      ['expect', 'POST /e HTTP/1.1\r\nHost: orders.test\r\nexpect: 100-continue\r\ncontent-length: 2\r\n\r\nhi', 200],
      ['http/1.0', 'GET /old HTTP/1.0\r\nHost: orders.test\r\n\r\n', 200],
      // node:http's own answer to an HTTP/1.1 request without Host.
      ['no host', 'GET / HTTP/1.1\r\n\r\n', 400],
    ];
    for (const [what, bytes, status] of cases) {
      const one = new Client(proxy.port);
      one.send(bytes, bytes.startsWith('POST') ? 'POST' : 'GET');
      const answer = await one.answer(1);
      expect(answer.status, what).toBe(status);
      one.close();
    }
  });

  it('closes after answering a request that asked to close, and says so', async () => {
    proxy = await start();
    client = new Client(proxy.port);
    client.send(get('/bye', 'connection: close\r\n'));
    const answer = await client.answer(1);
    expect(answer.headers.connection).toBe('close');
    expect(answer.headers['keep-alive']).toBeUndefined();
    await client.closing();
  });

  it('answers 408 to a head that does not complete in time, and 400 or 431 to one llhttp refuses', async () => {
    proxy = await start({ limits: { headersTimeout: '300ms', maxHeaderBytes: 2048 } });
    client = new Client(proxy.port);
    client.send('GET / HTTP/1.1\r\nHost: orders.test\r\n');
    const slow = await client.answer(1);
    expect(slow.status).toBe(408);
    expect(slow.headers['x-waypost-error']).toBe('request_timeout');
    await client.closing();

    const bad = new Client(proxy.port);
    bad.send('GET / HTTP/1.1\r\nHost: orders.test\r\nbad header\r\n\r\n');
    expect((await bad.answer(1)).status).toBe(400);
    await bad.closing();

    const big = new Client(proxy.port);
    big.send(`GET / HTTP/1.1\r\nHost: orders.test\r\nx-big: ${'b'.repeat(4096)}\r\n\r\n`);
    expect((await big.answer(1)).status).toBe(431);
    await big.closing();
  });

  it('refuses a bad head after a served request on the same connection: 400, 431 in one read or many, and a head cut short', async () => {
    // After a head the parser is not initialized again and reports no error by itself (net/llhttp.ts, STOP_AFTER_HEAD).
    proxy = await start({ limits: { maxHeaderBytes: 2048 } });
    const afterOne = async (): Promise<Client> => {
      const connection = new Client(proxy!.port);
      connection.send(get('/first'));
      expect((await connection.answer(1)).status).toBe(200);
      return connection;
    };
    const bad = await afterOne();
    bad.send('GET / HTTP/1.1\r\nHost: orders.test\r\nbad header\r\n\r\n');
    expect((await bad.answer(2)).status).toBe(400);
    await bad.closing();

    const bareLf = await afterOne();
    bareLf.send('GET / HTTP/1.1\nHost: orders.test\n\n');
    expect((await bareLf.answer(2)).status).toBe(400);
    await bareLf.closing();

    const big = await afterOne();
    big.send(get('/big', `x-big: ${'b'.repeat(4096)}\r\n`));
    expect((await big.answer(2)).status).toBe(431);
    await big.closing();

    // The limit passed at the end of a read, in reads of 500 bytes.
    const trickled = await afterOne();
    const head = get('/big', `x-big: ${'b'.repeat(4096)}\r\n`);
    for (let at = 0; at < head.length && !trickled.closed; at += 500) {
      trickled.socket.write(head.slice(at, at + 500));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect((await trickled.answer(2)).status).toBe(431);
    await trickled.closing();

    const cut = await afterOne();
    cut.socket.end('GET /cut HTTP/1.1\r\nHost: ord');
    expect((await cut.answer(2)).status).toBe(400);
    await cut.closing();

    // The same cut-short head as a connection's first request, for comparison: answered alike.
    const first = new Client(proxy.port);
    first.socket.end('GET /cut HTTP/1.1\r\nHost: ord');
    expect((await first.answer(1)).status).toBe(400);
    await first.closing();

    // A head past the limit in total but not by llhttp's count (it counts no line endings) is served.
    const nearLimit = await afterOne();
    const fields = Array.from({ length: 100 }, (_, i) => `x-f${String(i).padStart(2, '0')}: ${'v'.repeat(12)}\r\n`).join('');
    expect(get('/near', fields).length).toBeGreaterThan(2048);
    nearLimit.send(get('/near', fields));
    const near = await nearLimit.answer(2);
    expect(near.status).toBe(200);
    expect(echoed(near).headers['x-f99']).toBe('v'.repeat(12));
    nearLimit.close();
  });

  it('closes a connection that reads and writes nothing for timeouts.idle, and keeps one that is used', async () => {
    // Checked by the listener's sweep (every 250 ms with a 1 s head timeout), not by a socket timer.
    proxy = await start({ timeouts: { idle: '500ms' }, limits: { headersTimeout: '1s' } });
    const waiting = new Client(proxy.port);
    const started = Date.now();
    waiting.send(get('/wait', 'x-test: slow=4000\r\n'));
    await waiting.closing();
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(3_000);
    expect(waiting.answers).toHaveLength(0);

    client = new Client(proxy.port);
    for (let i = 1; i <= 8; i++) {
      client.send(get(`/used-${i}`));
      await client.answer(i);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(client.closed).toBe(false);
  });

  it('sends no body after HEAD, and chunks an answer that has no length', async () => {
    const chunky = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', ...(req.url === '/head' ? { 'content-length': '5' } : {}) });
      if (req.method === 'HEAD') return res.end();
      res.write('first,');
      setTimeout(() => res.end('second'), 20);
    });
    await new Promise<void>((resolve) => chunky.listen(0, '127.0.0.1', resolve));
    const port = (chunky.address() as net.AddressInfo).port;
    try {
      proxy = await startProxy('raw', [{ host: 'orders.test', service: 'orders', targets: [`127.0.0.1:${port}`] }]);
      client = new Client(proxy.port);
      client.send(get('/chunks'));
      const chunked = await client.answer(1);
      expect(chunked.headers['transfer-encoding']).toBe('chunked');
      expect(chunked.body).toBe('first,second');
      client.send('HEAD /head HTTP/1.1\r\nHost: orders.test\r\n\r\n', 'HEAD');
      client.send(get('/chunks'));
      const head = await client.answer(2);
      expect(head.headers['content-length']).toBe('5');
      expect(head.body).toBe('');
      // Had a body (or a last chunk) followed the HEAD answer, this one would not parse.
      expect((await client.answer(3)).body).toBe('first,second');
      // A HEAD answer without a length is not chunked either.
      client.send('HEAD /chunks HTTP/1.1\r\nHost: orders.test\r\n\r\n', 'HEAD');
      client.send(get('/chunks'));
      expect((await client.answer(4)).headers['transfer-encoding']).toBeUndefined();
      expect((await client.answer(5)).body).toBe('first,second');
    } finally {
      chunky.closeAllConnections();
      await new Promise((resolve) => chunky.close(resolve));
    }
  });

  it('leaves HTTP/1.1 to node:http with http1Server: node', async () => {
    proxy = await start({ http1Server: 'node' });
    client = new Client(proxy.port);
    client.send(get('/node'));
    expect(echoed(await client.answer(1)).url).toBe('/node');
    expect(proxy.server.rawHttp1Connections).toBe(0);
  });

  it('closes idle connections at a graceful stop and lets the one in flight finish', async () => {
    proxy = await start();
    const idle = new Client(proxy.port);
    idle.send(get('/idle'));
    await idle.answer(1);
    client = new Client(proxy.port);
    client.send(get('/busy', 'x-test: slow=300\r\n'));
    await waitFor('the slow request to be in flight', () => proxy!.server.inflight === 1);
    const stopping = proxy.close(5_000);
    await idle.closing();
    const busy = await client.answer(1);
    expect(echoed(busy).url).toBe('/busy');
    expect(busy.headers.connection).toBe('close');
    await stopping;
    proxy = undefined;
  });
});

describe('headersObject', () => {
  it('builds the header object node:http builds from the same raw fields', async () => {
    const raw = [
      'Host', 'a.test', 'HOST', 'b.test',
      'Set-Cookie', 'a=1', 'set-cookie', 'b=2',
      'Cookie', 'x=1', 'cookie', 'y=2',
      'Accept', 'text/html', 'accept', 'application/json',
      'Content-Type', 'text/plain', 'content-type', 'text/html',
      'X-Custom', 'one', 'x-custom', 'two',
      'constructor', 'c', '__proto__', 'p', 'toString', 't',
      'User-Agent', 'ua1', 'user-agent', 'ua2',
    ];
    let seen: { headers: http.IncomingHttpHeaders; rawHeaders: string[] } | undefined;
    const server = http.createServer((req, res) => {
      seen = { headers: { ...req.headers }, rawHeaders: req.rawHeaders };
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      let head = 'GET / HTTP/1.1\r\n';
      for (let i = 0; i < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
      const client = new Client(port);
      client.send(`${head}connection: close\r\n\r\n`);
      await client.answer(1);
      client.close();
      expect({ ...headersObject(seen!.rawHeaders) }).toEqual(seen!.headers);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
