/**
 * `head` with the field line `name: value\r\n` after it. Appended piece by piece to the long head
 * string: each append is a cons V8 makes inline, where a template first joins its short pieces
 * (`name: ` is often under 13 characters) into a new flat string, a runtime call each (0.993 of
 * a proxied request's instructions, stop 36). Checks nothing: see splitsHeaderLine.
 */
export function withFieldLine(head: string, name: string, value: string): string {
  head += name;
  head += ': ';
  head += value;
  return head + '\r\n';
}

/**
 * The one check every head Waypost writes itself makes of a field: a CR or LF would end the line
 * early (header injection, request or response splitting) and parsers refuse a NUL. A loop, not a
 * regex: values are short and a regex call costs more than the scan (~20 fields a request).
 */
export function splitsHeaderLine(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code <= 13 && (code === 13 || code === 10 || code === 0)) return true;
  }
  return false;
}
