/**
 * `GET /` on the admin port: the dashboard page (dashboard-page.ts). Each
 * response gets a fresh CSP nonce, and the policy allows nothing else: no
 * external origin, no inline handlers, no eval, fetches to this origin only, and
 * Trusted Types so no string can become markup. Registry data is untrusted input
 * (anyone with the token writes metadata), so the page must not be able to run it.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdminRoute } from './server.js';

export const DASHBOARD_PATH = '/';

/**
 * The page split once around its nonce placeholder; a response joins the pieces around its
 * nonce. Loaded on the first request: an admin port nobody browses never holds the page.
 */
let pageParts: Promise<string[]> | undefined;
const loadPageParts = () => (pageParts ??= import('./dashboard-page.js').then(({ DASHBOARD_HTML, NONCE }) => DASHBOARD_HTML.split(NONCE)));

export function contentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
  ].join('; ');
}

export function dashboardRoute(): AdminRoute {
  return {
    method: 'GET',
    path: DASHBOARD_PATH,
    async handle(_req: IncomingMessage, res: ServerResponse): Promise<void> {
      const parts = await loadPageParts();
      const nonce = randomBytes(16).toString('base64');
      const body = parts.join(nonce);
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'content-security-policy': contentSecurityPolicy(nonce),
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
        'cross-origin-opener-policy': 'same-origin',
        'cache-control': 'no-store',
      });
      res.end(body);
    },
  };
}
