/**
 * How a compat API answers one request: decode the path (admin's decodeSegments),
 * match it in the API's route table (built once, at construction), check the token
 * on writes, run the handler; every refusal goes through admin's one error
 * skeleton in the API's own format.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { answerFailure, type ErrorFormat } from '../admin/failure.js';
import { MethodNotAllowed } from '../admin/registry-api.js';
import { decodeSegments } from '../admin/server.js';
import { ErrorCodes, WaypostError } from '../errors.js';
import type { Logger } from '../log.js';
import type { RouteTable } from './route-table.js';

/** What a compat route handler gets. */
export interface CompatCall {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly query: URLSearchParams;
  /** Aborts when the client goes away before the answer. */
  readonly clientGone: AbortSignal;
}

export interface CompatDispatchOptions {
  readonly table: RouteTable<CompatCall>;
  readonly format: ErrorFormat;
  readonly log: Logger;
  /** Throws a WaypostError (401/403) when a write lacks the admin token. */
  authorize(call: CompatCall): void;
  /** Eureka clients send `apps//x` and trailing slashes; Consul's paths are exact. @default false */
  readonly ignoreEmptySegments?: boolean;
  /** The 404 text, for APIs that show it. */
  readonly notFoundMessage: string;
}

/** Answers `call` for `path`, relative to the API's prefix and starting with `/`. */
export async function dispatch(call: CompatCall, path: string, options: CompatDispatchOptions): Promise<void> {
  try {
    const decoded = decodeSegments(path);
    const segments = options.ignoreEmptySegments ? decoded.filter((segment) => segment !== '') : decoded;
    const method = call.req.method ?? 'GET';
    const match = options.table.match(method, segments);
    if (match.kind === 'not-found') throw new WaypostError(ErrorCodes.NOT_FOUND, options.notFoundMessage);
    if (match.kind === 'method-not-allowed') throw new MethodNotAllowed(match.allow);
    // Reads are open, as on the native API; writes need the token.
    if (method !== 'GET' && method !== 'HEAD') options.authorize(call);
    await match.handler(call, match.params);
  } catch (err) {
    answerFailure(call.req, call.res, err, options.log, options.format);
  }
}
