/**
 * The one error skeleton of every API on the admin listener (the native registry
 * API and the Eureka and Consul compat APIs): an answer already under way is cut,
 * a WaypostError is answered in the API's own format, anything else is logged and
 * answered with a bare 500, never a stack or a crash.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, describeError, isWaypostError, type WaypostError } from '../errors.js';
import type { Logger } from '../log.js';
import { sendError, sendJson } from './body.js';
import { MethodNotAllowed } from './registry-api.js';

/** How one API writes its errors. */
export interface ErrorFormat {
  /** A refusal. `headers` holds what every format sends (`allow` on a 405, `connection: close` on a 413). */
  refusal(res: ServerResponse, err: WaypostError, headers: Record<string, string>): void;
  /** An unexpected failure: a bare 500 that reveals nothing. */
  internal(res: ServerResponse): void;
}

/** DESIGN §4: `{"error", "message", "field"?}` with the error's status. */
export const designErrorFormat: ErrorFormat = {
  refusal(res, err, headers) {
    if (err.code === ErrorCodes.UNAUTHORIZED) headers['www-authenticate'] = 'Bearer realm="waypost"';
    sendError(res, err, headers);
  },
  internal(res) {
    sendJson(res, 500, { error: 'internal', message: 'internal error' });
  },
};

export function answerFailure(req: IncomingMessage, res: ServerResponse, err: unknown, log: Logger, format: ErrorFormat): void {
  if (res.headersSent || res.destroyed) {
    log.warn({ err: describeError(err), method: req.method }, 'request failed after answering');
    res.destroy();
    return;
  }
  if (!isWaypostError(err)) {
    log.error({ err, method: req.method, path: pathForLog(req) }, 'request failed');
    format.internal(res);
    return;
  }
  if (err.status >= 500) log.warn({ err: describeError(err), code: err.code }, 'request refused');
  else log.debug({ err: err.message, field: err.field, method: req.method }, 'request rejected');
  const headers: Record<string, string> = {};
  // HTTP requires a 405 to say which methods the path takes.
  if (err instanceof MethodNotAllowed) headers.allow = err.allow.join(', ');
  // The rest of an oversized body was not read: close instead of draining it.
  if (err.code === ErrorCodes.TOO_LARGE) headers.connection = 'close';
  format.refusal(res, err, headers);
}

/** Only the known shape of a path; raw paths may carry anything. */
function pathForLog(req: IncomingMessage): string {
  return (req.url ?? '').split('?', 1)[0]!.slice(0, 200);
}
