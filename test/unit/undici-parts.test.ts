import * as undici from 'undici';
import { describe, expect, it } from 'vitest';
import { undiciParts } from '../../src/net/undici-parts.js';

// The engine takes undici's parts from their own files (src/net/undici-parts.ts) to keep the
// rest of undici out of an idle proxy; an undici upgrade that moves them must fail here.
describe('undici parts', () => {
  it('are the very modules undici exports', () => {
    const { Pool, buildConnector, errors } = undiciParts();
    expect(Pool).toBe(undici.Pool);
    expect(buildConnector).toBe(undici.buildConnector);
    expect(errors).toBe(undici.errors);
  });
});
