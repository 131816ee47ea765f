/** The Via loop marker: hop counting and finding a proxy's own id among the entries. */
import { describe, expect, it } from 'vitest';
import { generateProxyId, PROXY_ID_PATTERN, viaEntry, viaFromWaypost, viaHops, viaNames } from '../../../src/net/via.js';

describe('viaHops', () => {
  it.each([
    ['1.1 a', 1],
    ['1.1 a, 1.0 b', 2],
    ['1.0 fred, 1.1 p.example.net (Apache/1.1), 1.1 w', 3],
    ['1.1 a (comment, with a comma), 1.1 b', 2],
    [Array.from({ length: 17 }, (_, i) => `1.1 p${i}`).join(', '), 17],
  ])('%s has %i hops', (via, hops) => {
    expect(viaHops(via)).toBe(hops);
  });
});

describe('viaNames', () => {
  it.each([
    ['the only entry', '1.1 waypost-1', true],
    ['the last of several', '1.1 nginx, 1.1 waypost-1', true],
    ['the first of several', '1.1 waypost-1,1.1 nginx', true],
    ['followed by a comment', '1.1 waypost-1 (Waypost)', true],
    ['separated by a tab', '1.1\twaypost-1', true],
    ['another id it is a prefix of', '1.1 waypost-10', false],
    ['another id it is a suffix of', '1.1 xwaypost-1', false],
    ['in the protocol position', 'waypost-1 x', false],
    ['absent', '1.1 nginx', false],
  ])('%s: %s → %s', (_name, via, named) => {
    expect(viaNames(via, 'waypost-1')).toBe(named);
  });
});

describe('the Waypost Via marker', () => {
  it('marks every entry a Waypost proxy adds, whatever its id, and names the id', () => {
    const entry = viaEntry('1.1', 'edge-eu-1');
    expect(entry).toBe('1.1 edge-eu-1 (waypost)');
    expect(viaNames(`1.1 nginx, ${entry}`, 'edge-eu-1')).toBe(true);
    expect(viaFromWaypost(`1.1 nginx, ${entry}`)).toBe(true);
    expect(viaFromWaypost('1.1 nginx, 1.0 edge (squid)')).toBe(false);
  });
});

describe('generateProxyId', () => {
  it('makes distinct ids that are valid Via pseudonyms', () => {
    const a = generateProxyId();
    expect(a).toMatch(PROXY_ID_PATTERN);
    expect(a).toMatch(/^waypost-[0-9a-f]{12}$/);
    expect(generateProxyId()).not.toBe(a);
  });
});
