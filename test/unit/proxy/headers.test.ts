import http from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { TrustedProxies, clientResponseHead, clientResponseLines, setForwardedHeaders } from '../../../src/proxy/headers.js';

/** Pairs of a flat header list, for readable assertions. */
function pairs(list: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < list.length; i += 2) out.push([list[i]!, list[i + 1]!]);
  return out;
}

describe('clientResponseHead', () => {
  it('keeps end-to-end headers with their case, order and duplicates, and adds the request id', () => {
    const head = clientResponseHead(['Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'], 'rid-1');
    expect(pairs(head)).toEqual([
      ['Content-Type', 'text/plain'],
      ['Set-Cookie', 'a=1'],
      ['Set-Cookie', 'b=2'],
      ['x-request-id', 'rid-1'],
    ]);
  });

  it('drops hop-by-hop headers in any case', () => {
    const head = clientResponseHead(
      ['Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'Transfer-Encoding', 'chunked', 'TE', 'trailers', 'Upgrade', 'h2c', 'Trailer', 'x', 'Proxy-Authenticate', 'Basic', 'ETag', '"1"'],
      'rid',
    );
    expect(pairs(head)).toEqual([
      ['ETag', '"1"'],
      ['x-request-id', 'rid'],
    ]);
  });

  it('drops the fields the Connection header names, over several Connection headers', () => {
    const head = clientResponseHead(['Connection', 'X-Hop', 'X-Hop', 'secret', 'connection', 'close, x-other', 'X-Other', 'o', 'X-Kept', 'k'], 'rid');
    expect(pairs(head)).toEqual([
      ['X-Kept', 'k'],
      ['x-request-id', 'rid'],
    ]);
  });

  it("keeps the upstream's own request id instead of adding a second one", () => {
    const head = clientResponseHead(['X-Request-ID', 'upstream-id', 'Content-Length', '0'], 'ours');
    expect(pairs(head)).toEqual([
      ['X-Request-ID', 'upstream-id'],
      ['Content-Length', '0'],
    ]);
  });
});

/** The same filter as head lines (RawResponse.writeProxiedHead): it must say what the list form says. */
describe('clientResponseLines', () => {
  const lines = (list: readonly string[]): string => {
    let text = '';
    for (let i = 0; i < list.length; i += 2) text += `${list[i]!}: ${list[i + 1]!}\r\n`;
    return text;
  };

  it.each([
    [['Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2']],
    [['Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'Transfer-Encoding', 'chunked', 'TE', 'trailers', 'Upgrade', 'h2c', 'Trailer', 'x', 'Proxy-Authenticate', 'Basic', 'ETag', '"1"']],
    [['X-Request-ID', 'upstream-id', 'Content-Length', '0', 'DATE', 'Mon, 07 Dec 2026 06:00:00 GMT']],
    [['connection', 'Keep-Alive', 'x-request-id', 'a', 'X-Request-Id', 'b']],
    [[]],
  ])('writes what clientResponseHead keeps, in order: %j', (raw) => {
    const written = clientResponseLines(raw, 'rid');
    expect(written?.text).toBe(lines(clientResponseHead(raw, 'rid')));
  });

  it('says whether the kept fields frame the answer (Content-Length) and date it', () => {
    expect(clientResponseLines(['Content-Length', '5', 'Date', 'x'], 'rid')).toMatchObject({ hasLength: true, hasDate: true });
    expect(clientResponseLines(['content-type', 'a', 'Transfer-Encoding', 'chunked', 'X-Date', 'x'], 'rid')).toMatchObject({ hasLength: false, hasDate: false });
  });

  it('leaves a Connection field naming other fields to the list form (nothing written)', () => {
    expect(clientResponseLines(['Connection', 'X-Hop', 'X-Hop', 'secret'], 'rid')).toBeUndefined();
    expect(clientResponseLines(['Connection', 'close'], 'rid')).toBeUndefined();
  });
});

/**
 * setForwardedHeaders on requests a real node:http server parsed: the hop-by-hop fields go, the
 * rest keep their order, and an HTTP/1 request that had any gets a new header object (deleting a
 * field in the middle would leave V8 a slow dictionary); one without any keeps its own.
 */
describe('setForwardedHeaders', () => {
  interface Seen {
    names: string[];
    replaced: boolean;
    headers: http.IncomingHttpHeaders;
  }

  async function forwarded(head: string): Promise<Seen> {
    const trusted = new TrustedProxies([]);
    let seen: Seen | undefined;
    const server = http.createServer((req, res) => {
      const before = req.headers;
      setForwardedHeaders(req, '127.0.0.1', trusted, 'http', 'rid-1');
      seen = { names: Object.keys(req.headers), replaced: req.headers !== before, headers: req.headers };
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
      socket.on('error', () => {});
      await new Promise<void>((resolve) => {
        socket.on('data', () => resolve());
        socket.write(head);
      });
      socket.destroy();
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    return seen!;
  }

  it('drops hop-by-hop fields and those Connection names, keeping the order of the rest', async () => {
    const seen = await forwarded(
      'GET / HTTP/1.1\r\nHost: a.localhost\r\nConnection: keep-alive, X-Drop, Via\r\nX-Drop: 1\r\nTE: trailers\r\nAccept: */*\r\nVia: 1.1 other\r\nUser-Agent: t\r\n\r\n',
    );
    expect(seen.names).toEqual(['host', 'accept', 'via', 'user-agent', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id']);
    expect(seen.replaced).toBe(true);
    expect(seen.headers['x-request-id']).toBe('rid-1');
  });

  it('keeps the header object of a request with no hop-by-hop field', async () => {
    const seen = await forwarded('GET / HTTP/1.1\r\nHost: a.localhost\r\nAccept: */*\r\n\r\n');
    expect(seen.names).toEqual(['host', 'accept', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id']);
    expect(seen.replaced).toBe(false);
  });
});
