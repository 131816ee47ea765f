/** parseClientHello against real ClientHellos (captured from node:tls) cut at every byte, and garbage. */
import { randomBytes } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { parseClientHello } from '../../../src/proxy/sni.js';

/** The first bytes a TLS client sends, captured by a plain TCP server. */
async function captureClientHello(servername: string | undefined): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const captured = new Promise<Buffer>((resolve) => {
    server.once('connection', (socket) => {
      socket.once('data', (chunk: Buffer) => {
        resolve(chunk);
        socket.destroy();
      });
    });
  });
  const client = tls.connect({ port, host: '127.0.0.1', ...(servername ? { servername } : {}), rejectUnauthorized: false });
  client.on('error', () => {});
  const hello = await captured;
  client.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return hello;
}

describe('parseClientHello', () => {
  it('reads the server name from a real ClientHello, and says incomplete for every shorter prefix', async () => {
    const hello = await captureClientHello('API.Example.test');
    expect(parseClientHello(hello)).toEqual({ kind: 'ok', serverName: 'api.example.test' });
    for (let cut = 0; cut < hello.length; cut++) expect(parseClientHello(hello.subarray(0, cut)).kind).toBe('incomplete');
  });

  it('reports no server name when the client sent none', async () => {
    const hello = await captureClientHello(undefined);
    expect(parseClientHello(hello)).toEqual({ kind: 'ok', serverName: undefined });
  });

  it('rejects plain HTTP and random garbage without throwing', () => {
    expect(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n\r\n'))).toEqual({ kind: 'invalid', why: 'not a TLS handshake record' });
    for (let i = 0; i < 2_000; i++) {
      const junk = randomBytes(1 + (i % 300));
      if (i % 2 === 0) junk[0] = 0x16;
      if (i % 4 === 0 && junk.length > 1) junk[1] = 0x03;
      expect(['incomplete', 'invalid', 'ok']).toContain(parseClientHello(junk).kind);
    }
  });

  it('rejects a record that claims more than the peek limit', () => {
    const header = Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff]);
    expect(parseClientHello(header)).toEqual({ kind: 'invalid', why: 'bad TLS record length' });
  });
});
