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
