/** Field types shared by the configuration schemas: durations and CIDR ranges. */
import { z } from 'zod';
import { parseCidr } from '../net/address.js';
import { MAX_DURATION_MS, MAX_DURATION_TEXT, parseDuration } from './duration.js';

export const durationValue = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a duration like 500ms, 5s or 2m, got "${value}"` });
    return z.NEVER;
  }
  if (ms > MAX_DURATION_MS) {
    ctx.addIssue({ code: 'custom', message: `expected a duration of at most ${MAX_DURATION_TEXT}, got "${value}"` });
    return z.NEVER;
  }
  return ms;
}).describe('a duration like 500ms, 5s or 2m'); // what config errors say the field takes (config/issues.ts)

/** A duration field, normalised to milliseconds. */
export const duration = (fallback: string) => durationValue.default(parseDuration(fallback)!);

export const cidr = z.string().refine((v) => parseCidr(v) !== undefined, {
  message: 'expected a CIDR range like 10.0.0.0/8 or fd00::/8',
});
