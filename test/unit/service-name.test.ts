/** isServiceName (src/types.ts) is SERVICE_NAME_PATTERN as a loop: the regex is the oracle. */
import { describe, expect, it } from 'vitest';
import { SERVICE_NAME_PATTERN, isServiceName } from '../../src/types.js';

describe('isServiceName', () => {
  it('agrees with SERVICE_NAME_PATTERN on names at every edge', () => {
    const cases = [
      '', 'a', '0', '-', 'a-', '-a', 'a-b', 'a--b', 'orders', 'Orders', 'ORDERS', 'orders.v2', 'orders_v2', 'orders v2',
      'a'.repeat(62), 'a'.repeat(63), 'a'.repeat(64), `${'a'.repeat(62)}-`, `a${'-'.repeat(61)}b`, 'é', 'a\0', 'a\n', '[::1]', 'x:80',
    ];
    for (const text of cases) expect(isServiceName(text), JSON.stringify(text)).toBe(SERVICE_NAME_PATTERN.test(text));
  });

  it('agrees with SERVICE_NAME_PATTERN on random strings over the characters that matter', () => {
    const alphabet = 'az09-.A_Z/ \u00e9';
    let seed = 7;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let n = 0; n < 20_000; n++) {
      let text = '';
      const length = next() % 70;
      for (let i = 0; i < length; i++) text += next() % 4 === 0 ? alphabet[next() % alphabet.length] : 'abc019-'[next() % 7];
      expect(isServiceName(text), JSON.stringify(text)).toBe(SERVICE_NAME_PATTERN.test(text));
    }
  });
});
