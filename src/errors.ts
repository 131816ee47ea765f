/**
 * Errors are values with a stable code. The admin API maps `status` and `code`
 * straight onto its JSON error body; the CLI maps `exitCode`.
 */

export const ErrorCodes = {
  /** Input failed validation; `field` names the JSON path. */
  INVALID: 'invalid',
  NOT_FOUND: 'not_found',
  CONFLICT: 'conflict',
  /** A registration declares a route (host+path) another service already declares; the message names the owner. */
  ROUTE_CONFLICT: 'route_conflict',
  UNAUTHORIZED: 'unauthorized',
  FORBIDDEN: 'forbidden',
  TOO_LARGE: 'too_large',
  UNSUPPORTED_MEDIA_TYPE: 'unsupported_media_type',
  METHOD_NOT_ALLOWED: 'method_not_allowed',
  /** The registry backend (Redis) cannot be reached; the write was not stored. */
  REGISTRY_UNAVAILABLE: 'registry_unavailable',
  /** Too many parked blocking queries, instances per service, … */
  LIMIT_EXCEEDED: 'limit_exceeded',
  /** Configuration or flag is invalid (exit code 2). */
  CONFIG: 'config',
  /** Something failed at start-up (exit code 1). */
  STARTUP: 'startup',
  CLOSED: 'closed',
  /** The request came back through this proxy (its Via marker): an instance registered at the proxy's own address. */
  LOOP_DETECTED: 'loop_detected',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

const HTTP_STATUS: Record<ErrorCode, number> = {
  invalid: 400,
  not_found: 404,
  conflict: 409,
  route_conflict: 409,
  unauthorized: 401,
  forbidden: 403,
  too_large: 413,
  unsupported_media_type: 415,
  method_not_allowed: 405,
  registry_unavailable: 503,
  limit_exceeded: 429,
  config: 500,
  startup: 500,
  closed: 503,
  loop_detected: 508,
};

export interface WaypostErrorOptions {
  /** JSON path (`port`, `metadata.version`) or config path (`admin.listen`). */
  field?: string;
  cause?: unknown;
}

export class WaypostError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, options: WaypostErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WaypostError';
    this.code = code;
    this.field = options.field;
  }

  /** HTTP status for the admin API. */
  get status(): number {
    return HTTP_STATUS[this.code];
  }

  /** The JSON body of DESIGN §4: `{error, message, field?}`. */
  toJSON(): { error: string; message: string; field?: string } {
    return this.field === undefined
      ? { error: this.code, message: this.message }
      : { error: this.code, message: this.message, field: this.field };
  }
}

export function isWaypostError(err: unknown, code?: ErrorCode): err is WaypostError {
  return err instanceof WaypostError && (code === undefined || err.code === code);
}

export const invalid = (field: string, message: string): WaypostError =>
  new WaypostError(ErrorCodes.INVALID, message, { field });

export const configError = (field: string, message: string, cause?: unknown): WaypostError =>
  new WaypostError(ErrorCodes.CONFIG, field ? `${field}: ${message}` : message, { field, cause });

/** Short text for an unknown thrown value, safe to log. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** A start-up (or reload) step failed: `what` and the cause, as one line. */
export function startupError(what: string, err: unknown): WaypostError {
  if (err instanceof WaypostError && err.code === 'startup') return err;
  return new WaypostError('startup', `${what}: ${describeError(err)}`, { cause: err });
}
