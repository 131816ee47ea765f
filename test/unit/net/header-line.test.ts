import { describe, expect, it } from 'vitest';
import { splitsHeaderLine, withFieldLine } from '../../../src/net/header-line.js';

describe('head field lines', () => {
  it('appends `name: value` and a CRLF, keeping what the head had', () => {
    expect(withFieldLine('', 'Date', 'Mon, 07 Dec 2026 16:00:00 GMT')).toBe('Date: Mon, 07 Dec 2026 16:00:00 GMT\r\n');
    expect(withFieldLine('HTTP/1.1 200 OK\r\n', 'x-request-id', 'a-1')).toBe('HTTP/1.1 200 OK\r\nx-request-id: a-1\r\n');
    expect(withFieldLine('a: 1\r\n', 'empty', '')).toBe('a: 1\r\nempty: \r\n');
  });

  it('finds the characters that would split a line: CR, LF and NUL, nothing else', () => {
    for (const bad of ['a\rb', 'a\nb', 'a\0b', '\r\n']) expect(splitsHeaderLine(bad)).toBe(true);
    for (const good of ['', 'plain', 'tab\there', 'é ünïcode', '\x0b\x0c']) expect(splitsHeaderLine(good)).toBe(false);
  });
});
