/**
 * writeDirect keeps socket.write's contract (bytes in order, the callback once the kernel has
 * them, errors destroy the socket) while skipping the Writable when nothing waits in it.
 * Real loopback sockets; the Writable is watched by counting socket.write calls.
 */
import net, { type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { writeDirect } from '../../../src/net/direct-write.js';

let server: Server | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A connected pair: `client` (what writeDirect writes to) and the server's side, `peer`. */
async function pair(): Promise<{ client: Socket; peer: Socket }> {
  const accepted = new Promise<Socket>((resolve) => {
    server = net.createServer((socket) => resolve(socket));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
  const client = net.connect((server!.address() as AddressInfo).port, '127.0.0.1');
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  const peer = await accepted;
  sockets.push(client, peer);
  return { client, peer };
}

/** Counts socket.write calls: the Writable's path. */
function countWritableWrites(socket: Socket): { count: number } {
  const counter = { count: 0 };
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  socket.write = ((...args: unknown[]) => {
    counter.count++;
    return write(...args);
  }) as typeof socket.write;
  return counter;
}

function collect(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve) => socket.once('end', () => resolve(Buffer.concat(chunks))));
}

describe('writeDirect', () => {
  it('writes strings and bytes past the Writable, calls back only after it returns, and bytesWritten counts them', async () => {
    const { client, peer } = await pair();
    const writable = countWritableWrites(client);
    const received = collect(peer);
    const order: string[] = [];
    writeDirect(client, 'GET / HTTP/1.1\r\n\r\n', (err) => order.push(`flushed ${String(err)}`));
    order.push('returned');
    writeDirect(client, Buffer.from('bytes é'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(['returned', 'flushed null']);
    expect(writable.count).toBe(0);
    expect(client.bytesWritten).toBe(18 + Buffer.byteLength('bytes é'));
    client.end();
    expect((await received).toString()).toBe('GET / HTTP/1.1\r\n\r\nbytes é');
  });

  it('a write the kernel cannot take at once calls back only when it is out, and later writes and the end follow it in order', async () => {
    const { client, peer } = await pair();
    peer.pause();
    const big = Buffer.alloc(32 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
    let flushed = false;
    writeDirect(client, big, () => (flushed = true));
    // Queued in libuv, not in the Writable: a later socket.write and end() must still come after it.
    client.write('tail');
    client.end();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(flushed).toBe(false);
    const received = collect(peer);
    peer.resume();
    const all = await received;
    expect(flushed).toBe(true);
    expect(all.length).toBe(big.length + 4);
    expect(all.subarray(0, big.length).equals(big)).toBe(true);
    expect(all.subarray(big.length).toString()).toBe('tail');
  });

  it('goes through the Writable when something waits in it (corked, connecting) and keeps the order', async () => {
    const { client, peer } = await pair();
    const writable = countWritableWrites(client);
    const received = collect(peer);
    client.cork();
    // Corked with nothing queued yet: still the Writable's, to leave with what is written next.
    writeDirect(client, 'one ');
    client.write('two ');
    client.uncork();
    writeDirect(client, 'three');
    expect(writable.count).toBe(2);
    client.end();
    expect((await received).toString()).toBe('one two three');

    const connecting = net.connect((server!.address() as AddressInfo).port, '127.0.0.1');
    sockets.push(connecting);
    const accepted = new Promise<Socket>((resolve) => server!.once('connection', resolve));
    const early = countWritableWrites(connecting);
    writeDirect(connecting, 'sent while connecting');
    expect(early.count).toBe(1);
    connecting.end();
    expect((await collect(await accepted)).toString()).toBe('sent while connecting');
  });

  it('a queued write that fails or is cancelled reports an error to its callback, and the socket is destroyed', async () => {
    const { client, peer } = await pair();
    peer.pause();
    const flushedWith: (Error | null | undefined)[] = [];
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.on('error', () => {});
    writeDirect(client, Buffer.alloc(32 * 1024 * 1024), (err) => flushedWith.push(err));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(flushedWith).toEqual([]);
    peer.resetAndDestroy();
    await closed;
    expect(client.destroyed).toBe(true);
    expect(flushedWith.length).toBe(1);
    const error = flushedWith[0] as NodeJS.ErrnoException;
    expect(error.syscall).toBe('write');
    // Reset under the write (ECONNRESET, EPIPE) or cancelled when the read side saw the reset first.
    expect(['ECONNRESET', 'EPIPE', 'ECANCELED']).toContain(error.code);
    expect(error.errno).toBeLessThan(0);
  });
});
