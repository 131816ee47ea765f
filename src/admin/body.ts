/**
 * Request bodies and JSON responses of the admin API. Bodies are read up to a
 * limit and never buffered beyond it; every failure is a WaypostError with the
 * status DESIGN §4 names (400, 413, 415), so handlers never see raw parser errors.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, WaypostError, invalid } from '../errors.js';
import { parseBoundedJson } from './bounded-json.js';

export interface ReadBodyOptions {
  maxBytes: number;
  /** When false an empty body (with or without a content-type) reads as `undefined`. */
  required: boolean;
}

/** `application/json`, with any parameters (`; charset=utf-8`). */
export function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  const mediaType = value.split(';', 1)[0]!.trim().toLowerCase();
  return mediaType === 'application/json';
}

/**
 * The parsed JSON body, or `undefined` for an allowed empty body. Rejects with
 * 415 for a non-JSON content type, 413 above `maxBytes` (the caller must then
 * close the connection: the rest of the body is not read), 400 for bad JSON or
 * JSON nested deeper than LIMITS.jsonDepth.
 */
export async function readJsonBody(req: IncomingMessage, options: ReadBodyOptions): Promise<unknown> {
  const contentType = req.headers['content-type'];
  const declared = req.headers['content-length'];
  const declaredLength = declared === undefined ? undefined : Number(declared);
  const chunked = req.headers['transfer-encoding'] !== undefined;

  if (declaredLength !== undefined && declaredLength > options.maxBytes) throw tooLarge(options.maxBytes);
  // HTTP/1.1: without Transfer-Encoding or a positive Content-Length there is no body at all.
  const hasBody = chunked || (declaredLength !== undefined && declaredLength > 0);
  if (!hasBody) {
    if (options.required) throw invalid('', 'request body is empty; expected a JSON object');
    return undefined;
  }
  if (contentType !== undefined && !isJsonContentType(contentType)) {
    throw new WaypostError(
      ErrorCodes.UNSUPPORTED_MEDIA_TYPE,
      `request body must be application/json; got content-type ${JSON.stringify(contentType)}`,
    );
  }

  const text = await readText(req, options.maxBytes);
  if (text.trim().length === 0) {
    if (options.required) throw invalid('', 'request body is empty; expected a JSON object');
    return undefined;
  }
  // Some clients send an empty chunked body without a content type; anything more must say JSON.
  if (contentType === undefined) {
    throw new WaypostError(ErrorCodes.UNSUPPORTED_MEDIA_TYPE, 'request body must be application/json; no content-type was sent');
  }
  return parseBoundedJson(text);
}

function readText(req: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        // Stop reading: the server answers 413 and closes the connection.
        req.pause();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size).toString('utf8'));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onAborted = () => {
      cleanup();
      reject(new WaypostError(ErrorCodes.INVALID, 'client closed the connection while sending the body'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

function tooLarge(maxBytes: number): WaypostError {
  return new WaypostError(ErrorCodes.TOO_LARGE, `request body is larger than admin.maxBodyBytes (${maxBytes} bytes)`);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string | number> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: WaypostError, headers: Record<string, string | number> = {}): void {
  sendJson(res, err.status, err.toJSON(), headers);
}

export function sendNoContent(res: ServerResponse): void {
  res.writeHead(204, { 'cache-control': 'no-store' });
  res.end();
}
