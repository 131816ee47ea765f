import { describe, expect, it } from 'vitest';
import { clientResponseHead } from '../../../src/proxy/headers.js';

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
