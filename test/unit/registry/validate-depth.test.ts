/**
 * The registry validators walk client values only to a bounded depth: a value
 * nested far deeper than any body parser allows (built in memory, not parsed)
 * still gets a 400 naming the field, never a stack overflow.
 */
import { describe, expect, it } from 'vitest';
import { isWaypostError } from '../../../src/errors.js';
import { isNestedDeeperThan, parseRegistration, parseStatusBody } from '../../../src/registry/validate.js';

/** `depth` levels of objects or arrays, built without recursion. */
function nested(shape: 'object' | 'array', depth: number): unknown {
  let value: unknown = 'x';
  for (let i = 0; i < depth; i++) value = shape === 'object' ? { a: value } : [value];
  return value;
}

function refusal(run: () => unknown): { field: string | undefined; message: string } {
  try {
    run();
  } catch (err) {
    if (!isWaypostError(err, 'invalid')) throw err;
    return { field: err.field, message: err.message };
  }
  throw new Error('expected a refusal');
}

describe('validation of deeply nested values', () => {
  it('measures depth without recursion and stops at the limit', () => {
    expect(isNestedDeeperThan('x', 0)).toBe(false);
    expect(isNestedDeeperThan({ a: [1] }, 2)).toBe(false);
    expect(isNestedDeeperThan({ a: [[1]] }, 2)).toBe(true);
    expect(isNestedDeeperThan(nested('array', 200_000), 32)).toBe(true);
  });

  it.each([
    ['metadata', (deep: unknown) => ({ host: '10.0.0.1', port: 80, metadata: { a: deep } }), 'metadata.a'],
    ['tags', (deep: unknown) => ({ host: '10.0.0.1', port: 80, tags: [deep] }), 'tags[0]'],
    ['service', (deep: unknown) => ({ host: '10.0.0.1', port: 80, service: deep }), 'service'],
    ['host', (deep: unknown) => ({ host: deep, port: 80 }), 'host'],
  ])('refuses a %s value nested 100,000 deep with a 400 naming the field', (_name, body, field) => {
    for (const shape of ['object', 'array'] as const) {
      const { field: got, message } = refusal(() => parseRegistration(body(nested(shape, 100_000)), 'orders'));
      expect(got).toBe(field);
      expect(message).toContain(`an ${shape} nested deeper than 32 levels`);
    }
  });

  it('refuses a status nested 100,000 deep', () => {
    expect(refusal(() => parseStatusBody({ status: nested('object', 100_000) })).field).toBe('status');
  });
});
