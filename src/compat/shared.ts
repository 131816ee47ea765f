/**
 * Pieces both compat APIs share beyond what src/admin gives them: the token taken
 * from the places foreign clients put it, lenient JSON bodies, bodiless answers.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { readJsonBody } from '../admin/body.js';
import type { TokenGuard } from '../admin/auth.js';

/**
 * Checks the admin token, accepted as `Authorization: Bearer T`, as the password
 * of `Authorization: Basic` (Eureka clients put credentials in the service URL),
 * and, where `extra` is given, from a client-specific header or query value.
 */
export function checkToken(guard: TokenGuard, headers: IncomingHttpHeaders, extra?: string | null): void {
  if (!guard.enabled) return;
  const token = extra ?? basicPassword(headers.authorization);
  guard.check(token === undefined || token === null ? headers : { authorization: `Bearer ${token}` });
}

function basicPassword(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? decoded : decoded.slice(colon + 1);
}

/**
 * A JSON body up to `maxBytes`. Consul and Eureka servers do not insist on a
 * content type, and some tools send none: a missing one is read as JSON. A
 * declared non-JSON type is still refused (415).
 */
export function readLenientJson(req: IncomingMessage, maxBytes: number, required: boolean): Promise<unknown> {
  if (req.headers['content-type'] === undefined) req.headers['content-type'] = 'application/json';
  return readJsonBody(req, { maxBytes, required });
}

/** `::ffff:10.0.0.5` → `10.0.0.5`. */
export function remoteAddress(req: IncomingMessage): string | undefined {
  const address = req.socket.remoteAddress;
  return address?.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A status without a body (Eureka answers most calls so, Consul its agent writes). */
export function sendStatus(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-length': 0, 'cache-control': 'no-store', ...headers });
  res.end();
}
