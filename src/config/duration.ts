/** Durations in config accept `500ms`, `5s`, `2m`, `1h` or a plain number of seconds. */

/** The longest delay a Node.js timer takes (2^31 − 1 ms, about 596 h): a longer one fires after 1 ms. */
export const MAX_DURATION_MS = 2 ** 31 - 1;
/** MAX_DURATION_MS as the errors that refuse a longer duration say it. */
export const MAX_DURATION_TEXT = '596h (the longest timer Node.js sets)';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;

/** Milliseconds, or `undefined` when the text is not a duration. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? wholeMs(value * 1000) : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (/^\d+(?:\.\d+)?$/.test(text)) return wholeMs(Number(text) * 1000);
  const match = DURATION.exec(text);
  if (!match) return undefined;
  return wholeMs(Number(match[1]) * UNIT_MS[match[2]!]!);
}

/** Rounded to whole milliseconds, but a duration above 0 stays above 0 (0 often means "no limit"). */
function wholeMs(ms: number): number {
  return ms > 0 ? Math.max(1, Math.round(ms)) : 0;
}


