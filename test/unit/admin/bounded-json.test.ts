/**
 * The bounded JSON parser: nesting over the limit is refused by a linear scan of
 * the text, before JSON.parse, with the top-level field that holds it.
 */
import { describe, expect, it } from 'vitest';
import { parseBoundedJson } from '../../../src/admin/bounded-json.js';
import { isWaypostError } from '../../../src/errors.js';

function refusal(text: string, maxDepth?: number): { field: string | undefined; message: string } {
  try {
    parseBoundedJson(text, maxDepth);
  } catch (err) {
    if (!isWaypostError(err, 'invalid')) throw err;
    return { field: err.field, message: err.message };
  }
  throw new Error(`expected ${text.slice(0, 40)} to be refused`);
}

describe('parseBoundedJson', () => {
  it('parses JSON nested exactly to the limit', () => {
    expect(parseBoundedJson('{"a":[{"b":[1]}]}', 4)).toEqual({ a: [{ b: [1] }] });
    expect(parseBoundedJson(`${'['.repeat(32)}${']'.repeat(32)}`)).toHaveLength(1);
  });

  it.each([
    ['objects in a top-level member', `{"host":"h","metadata":${'{"a":'.repeat(4)}1${'}'.repeat(4)}}`, 'metadata'],
    ['arrays in a top-level member after other members', '{"a":"x","tags":[[[["t"]]]]}', 'tags'],
    ['a top-level array', '[[[[[1]]]]]', ''],
    ['an escaped top-level key', '{"we\\"ird":[[[[1]]]]}', 'we"ird'],
  ])('refuses %s one level over the limit, naming the field', (_name, text, field) => {
    const { field: got, message } = refusal(text, 4);
    expect(got).toBe(field);
    expect(message).toBe(`${field === '' ? 'the request body' : field} nests deeper than 4 levels of objects and arrays; at most 4 are allowed`);
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    expect(parseBoundedJson('{"a":"[[[[[\\"{{{{{"}', 2)).toEqual({ a: '[[[[["{{{{{' });
  });

  it('refuses 100,000 levels of nesting without overflowing the stack', () => {
    const depth = 100_000;
    expect(refusal(`{"metadata":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`).field).toBe('metadata');
    expect(refusal(`${'['.repeat(depth)}${']'.repeat(depth)}`).field).toBe('');
  });

  it('refuses text that is not JSON with a stable sentence, not the parser wording', () => {
    expect(refusal('{"host":')).toEqual({ field: '', message: 'request body is not valid JSON' });
  });
});
