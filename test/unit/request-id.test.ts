import { describe, expect, it } from 'vitest';
import type { IncomingMessage } from 'node:http';
import { generatedRequestId, nextRequestSequence, requestIdOf, writeGeneratedRequestId } from '../../src/request-id.js';

describe('request ids the proxy makes', () => {
  it('are a random prefix and a base-36 sequence number, new for every request', () => {
    const first = nextRequestSequence();
    const second = nextRequestSequence();
    expect(second).toBe(first + 1);
    expect(generatedRequestId(first)).toMatch(/^[0-9a-f]{12}-[0-9a-z]+$/);
    expect(generatedRequestId(second)).not.toBe(generatedRequestId(first));
    expect(generatedRequestId(second).split('-')[0]).toBe(generatedRequestId(first).split('-')[0]);
  });

  it('are written from their sequence number byte for byte as the string, at every width', () => {
    const sequences = [1, 9, 10, 35, 36, 37, 1_295, 1_296, 46_655, 46_656, 2 ** 31, 2 ** 32 + 5, 36 ** 9 - 1, 36 ** 9, Number.MAX_SAFE_INTEGER - 1];
    for (let i = 1; i < 5_000; i += 7) sequences.push(i);
    for (const sequence of sequences) {
      const id = generatedRequestId(sequence);
      const buffer = Buffer.alloc(id.length + 8, 0xff);
      const end = writeGeneratedRequestId(buffer, 3, sequence);
      expect(end).toBe(3 + id.length);
      expect(buffer.toString('latin1', 3, end)).toBe(id);
      // Nothing written around it.
      expect([...buffer.subarray(0, 3), ...buffer.subarray(end)].every((byte) => byte === 0xff)).toBe(true);
    }
  });

  it("keep a client's valid X-Request-Id and replace one that is not", () => {
    const of = (value: string | string[] | undefined): string => requestIdOf({ headers: { 'x-request-id': value } } as unknown as IncomingMessage);
    expect(of('req-abc.1:2_3')).toBe('req-abc.1:2_3');
    expect(of('x'.repeat(128))).toBe('x'.repeat(128));
    for (const bad of ['x'.repeat(129), '', 'a b', 'a\u00e9', 'a"b', ['one', 'two'], undefined]) {
      expect(of(bad)).toMatch(/^[0-9a-f]{12}-[0-9a-z]+$/);
    }
  });
});
