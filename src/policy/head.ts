/**
 * Edits of a response head as the response steps get it: a flat `[name, value, …]`
 * list whose names keep the upstream's case. Names compared here are lower-case;
 * a length check rules most fields out before any lower-casing.
 */

/** A set of lower-case field names, with their lengths for the cheap first check. */
export class FieldNames {
  readonly #names: ReadonlySet<string>;
  readonly #lengths: ReadonlySet<number>;

  constructor(names: Iterable<string>) {
    this.#names = new Set(names);
    this.#lengths = new Set([...this.#names].map((name) => name.length));
  }

  get size(): number {
    return this.#names.size;
  }

  has(name: string): boolean {
    return this.#lengths.has(name.length) && this.#names.has(name.toLowerCase());
  }
}

/** Whether `name` (any case) is `lower`. */
export function isField(name: string, lower: string): boolean {
  return name.length === lower.length && (name === lower || name.toLowerCase() === lower);
}

/** Removes every field named in `names`, in place. */
export function removeFields(head: string[], names: FieldNames): void {
  let out = 0;
  for (let i = 0; i < head.length; i += 2) {
    if (names.has(head[i]!)) continue;
    if (out !== i) {
      head[out] = head[i]!;
      head[out + 1] = head[i + 1]!;
    }
    out += 2;
  }
  head.length = out;
}

/** The index of the first value of field `lower`, or -1. */
export function fieldIndex(head: readonly string[], lower: string): number {
  for (let i = 0; i < head.length; i += 2) if (isField(head[i]!, lower)) return i + 1;
  return -1;
}

/** Adds `token` to Vary (appending to an existing one unless it lists the token or `*`). */
export function appendVary(head: string[], token: string): void {
  const at = fieldIndex(head, 'vary');
  if (at === -1) {
    head.push('vary', token);
    return;
  }
  const value = head[at]!;
  const lower = value.toLowerCase();
  const wanted = token.toLowerCase();
  if (lower.trim() === '*' || lower.split(',').some((item) => item.trim() === wanted)) return;
  head[at] = value.trim() === '' ? token : `${value}, ${token}`;
}
