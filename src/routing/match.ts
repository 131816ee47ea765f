/**
 * Pure matching helpers for the route table. None compiles a regex or allocates
 * on the common path (an already-normal host, a prefix that matches or not).
 */

/**
 * Host header → lookup form: lower-case, no port, no trailing dot.
 * `API.Example.com.:8080` → `api.example.com`; `[::1]:8080` → `[::1]`.
 */
export function normalizeHost(host: string): string {
  if (isNormalHost(host)) return host;
  let end = host.length;
  if (host.charCodeAt(0) === 0x5b /* [ */) {
    const close = host.indexOf(']');
    if (close !== -1) end = close + 1;
  } else {
    const colon = host.indexOf(':');
    if (colon !== -1) end = colon;
  }
  if (end > 0 && host.charCodeAt(end - 1) === 0x2e /* . */) end -= 1;
  const trimmed = end === host.length ? host : host.slice(0, end);
  return hasUpperCase(trimmed) ? trimmed.toLowerCase() : trimmed;
}

/** Already in lookup form (nearly every host a router sees twice a request): one pass, no string made. */
function isNormalHost(host: string): boolean {
  const length = host.length;
  if (length === 0 || host.charCodeAt(0) === 0x5b /* [ */ || host.charCodeAt(length - 1) === 0x2e /* . */) return false;
  for (let i = 0; i < length; i++) {
    const c = host.charCodeAt(i);
    if (c === 0x3a /* : */ || (c >= 0x41 && c <= 0x5a)) return false;
  }
  return true;
}

function hasUpperCase(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return true;
  }
  return false;
}

/**
 * Does `target` (a path, maybe with a query) fall under `prefix` on a segment
 * boundary? `/orders` matches `/orders`, `/orders/1`, `/orders?x` but not
 * `/orders-old`. A prefix ending in `/` matches anything below it.
 */
export function matchesPathPrefix(target: string, prefix: string): boolean {
  if (prefix === '/') return true;
  if (!target.startsWith(prefix)) return false;
  if (prefix.charCodeAt(prefix.length - 1) === 0x2f /* / */) return true;
  if (target.length === prefix.length) return true;
  const next = target.charCodeAt(prefix.length);
  return next === 0x2f /* / */ || next === 0x3f /* ? */;
}

/**
 * The upstream target after removing a matched `prefix`, keeping the query:
 * `/orders/1?x=1` → `/1?x=1`, `/orders` → `/`, `/orders?x=1` → `/?x=1`.
 */
export function stripPathPrefix(target: string, prefix: string): string {
  if (prefix === '/') return target;
  const base = prefix.charCodeAt(prefix.length - 1) === 0x2f ? prefix.length - 1 : prefix.length;
  const rest = target.slice(base);
  if (rest === '') return '/';
  return rest.charCodeAt(0) === 0x2f ? rest : `/${rest}`;
}

/** A header condition: lower-case name, exact value. */
export type HeaderCondition = readonly [name: string, value: string];

/** Every condition holds (an empty list always matches). */
export function matchesHeaders(
  conditions: readonly HeaderCondition[],
  header: (name: string) => string | undefined,
): boolean {
  for (let i = 0; i < conditions.length; i++) {
    const [name, value] = conditions[i]!;
    if (header(name) !== value) return false;
  }
  return true;
}

