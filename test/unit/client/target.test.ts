import { describe, expect, it } from 'vitest';
import { isRetryable } from '../../../src/client/target.js';
import { ErrorCodes, WaypostError, type ErrorCode } from '../../../src/errors.js';

describe('isRetryable', () => {
  const retryable = new Set<ErrorCode>([ErrorCodes.REGISTRY_UNAVAILABLE, ErrorCodes.CLOSED, ErrorCodes.LIMIT_EXCEEDED, ErrorCodes.STARTUP]);
  const cases = Object.values(ErrorCodes).map((code) => ({ code, expected: retryable.has(code) }));

  it.each(cases)('retries a $code error: $expected', ({ code, expected }) => {
    expect(isRetryable(new WaypostError(code, 'x'))).toBe(expected);
  });

  it('retries an error that is not a WaypostError (a socket reset, a DNS failure)', () => {
    expect(isRetryable(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isRetryable('a thrown string')).toBe(true);
  });
});
