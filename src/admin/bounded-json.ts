/**
 * JSON from clients, with the nesting depth bounded BEFORE anything walks it.
 * JSON.parse copes with deep input, but every recursive walk after it
 * (JSON.stringify in an error message, a validator, a serialiser) overflows the
 * stack somewhere past a few thousand levels, and 64 KiB of `[` is 65,536 of
 * them. One linear scan of the raw text refuses such input first, so nothing
 * downstream ever sees a value deeper than the limit.
 */
import { invalid } from '../errors.js';
import { LIMITS } from '../registry/validate.js';

/** Longest top-level field name quoted back in the error; longer ones are cut. */
const MAX_FIELD_CHARS = 64;

const OPEN_OBJECT = 0x7b; // {
const OPEN_ARRAY = 0x5b; // [
const CLOSE_OBJECT = 0x7d; // }
const CLOSE_ARRAY = 0x5d; // ]
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

/**
 * Parses `text` as JSON, refusing nesting deeper than `maxDepth` (400 `invalid`
 * whose `field` is the top-level member holding the deep value, when there is one)
 * and text that is not JSON (400 with a stable sentence, not the parser's wording).
 */
export function parseBoundedJson(text: string, maxDepth: number = LIMITS.jsonDepth): unknown {
  const tooDeep = findTooDeep(text, maxDepth);
  if (tooDeep !== undefined) {
    const where = tooDeep === '' ? 'the request body' : tooDeep;
    throw invalid(tooDeep, `${where} nests deeper than ${maxDepth} levels of objects and arrays; at most ${maxDepth} are allowed`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // The parser's own message quotes internals and positions; a stable sentence is clearer.
    throw invalid('', 'request body is not valid JSON');
  }
}

/**
 * undefined when `text` nests at most `maxDepth` deep; otherwise the name of the
 * top-level member where the limit was crossed ('' when the body itself is not an
 * object). Strings are skipped with their escapes, so brackets inside them do not
 * count. Malformed text is left for JSON.parse to refuse.
 */
function findTooDeep(text: string, maxDepth: number): string | undefined {
  let depth = 0;
  let topLevelIsObject = false;
  // The last string that ended directly inside the top-level object: the key of
  // whatever value follows it, since a nested value always comes after its key.
  let lastTopLevelString = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i;
      for (i++; i < text.length; i++) {
        const s = text.charCodeAt(i);
        if (s === BACKSLASH) i++;
        else if (s === QUOTE) break;
      }
      if (depth === 1 && topLevelIsObject) lastTopLevelString = text.slice(start, i + 1);
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth++;
      if (depth === 1) topLevelIsObject = c === OPEN_OBJECT;
      if (depth > maxDepth) return topLevelIsObject ? fieldName(lastTopLevelString) : '';
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
    }
  }
  return undefined;
}

/** A raw JSON string token as plain text, for the error's `field`. */
function fieldName(token: string): string {
  let name: string;
  try {
    name = JSON.parse(token) as string;
  } catch {
    name = token.slice(1, -1);
  }
  return name.length > MAX_FIELD_CHARS ? name.slice(0, MAX_FIELD_CHARS) : name;
}
