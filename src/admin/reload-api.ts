/**
 * `POST /v1/admin/reload`: read the configuration again and apply it (src/app-reload.ts).
 * A mutation, so it needs the admin token like every other. Answers 200 with what
 * changed; a file that fails validation 400 (`field` names the first bad field, the
 * message is the one the proxy would print at start); a change that needs a restart
 * 409 naming the field; the previous configuration stays in force on any refusal.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TokenGuard } from './auth.js';
import { sendJson } from './body.js';
import type { AdminRoute } from './server.js';

export const RELOAD_PATH = '/v1/admin/reload';

export interface Reloader {
  /** Resolves with a JSON summary of what changed; throws a WaypostError when refused. */
  reload(trigger: string): Promise<unknown>;
}

export function reloadRoute(options: { token: string; reloader: Reloader }): AdminRoute {
  const token = new TokenGuard(options.token);
  return {
    method: 'POST',
    path: RELOAD_PATH,
    async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
      token.check(req.headers);
      // The call takes no body; whatever was sent is read and dropped so the connection stays usable.
      req.resume();
      sendJson(res, 200, await options.reloader.reload('api'));
    },
  };
}
