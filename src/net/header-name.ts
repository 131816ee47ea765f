/**
 * Header field names compared and lower-cased without making a string when it can be avoided:
 * names are tokens (ASCII), so ASCII case folding is the whole of it.
 */

/** `name` equals `lower` (lower-case ASCII) ignoring ASCII case. */
export function equalsLowerCase(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < name.length; i++) {
    let code = name.charCodeAt(i);
    if (code >= 65 && code <= 90) code += 32;
    if (code !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Request fields clients commonly send. Their lower-case names are string constants: finding
 * one costs a few character compares, where toLowerCase() makes a new string that every keyed
 * store into a header object must then look up in V8's string table (hash and probe).
 */
const COMMON_REQUEST_FIELDS = [
  'host',
  'connection',
  'user-agent',
  'accept',
  'accept-encoding',
  'accept-language',
  'cache-control',
  'content-type',
  'content-length',
  'cookie',
  'origin',
  'referer',
  'authorization',
  'if-none-match',
  'if-modified-since',
  'pragma',
  'upgrade-insecure-requests',
  'sec-fetch-site',
  'sec-fetch-mode',
  'sec-fetch-dest',
  'sec-fetch-user',
  'sec-ch-ua',
  'sec-ch-ua-mobile',
  'sec-ch-ua-platform',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-request-id',
  'traceparent',
  'tracestate',
  'via',
  'te',
  'range',
  'priority',
];

/** The common names by length: most names are ruled out by their length and first character. */
const COMMON_BY_LENGTH: readonly (readonly string[] | undefined)[] = COMMON_REQUEST_FIELDS.reduce<string[][]>((byLength, name) => {
  (byLength[name.length] ??= []).push(name);
  return byLength;
}, []);

/** `name` in lower case: a constant for a common field, else toLowerCase(). */
export function lowerCaseFieldName(name: string): string {
  const candidates = COMMON_BY_LENGTH[name.length];
  if (candidates !== undefined) {
    for (let i = 0; i < candidates.length; i++) if (equalsLowerCase(name, candidates[i]!)) return candidates[i]!;
  }
  return name.toLowerCase();
}
