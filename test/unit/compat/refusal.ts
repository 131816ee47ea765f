import { expect } from 'vitest';
import { isWaypostError, type WaypostError } from '../../../src/errors.js';

/** The `invalid` WaypostError that `parse` throws; fails the test when it throws nothing or something else. */
export function refusalOf(parse: () => unknown): WaypostError {
  try {
    parse();
  } catch (err) {
    expect(isWaypostError(err, 'invalid'), String(err)).toBe(true);
    return err as WaypostError;
  }
  throw new Error('expected the input to be refused, but it was accepted');
}
