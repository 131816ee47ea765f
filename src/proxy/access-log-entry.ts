/**
 * The access-log entry of a request as it arrived, before routing and answering fill in the
 * rest: one shape for HTTP requests and WebSocket upgrades (ws-access-log.ts), so their lines agree.
 */
import type { IncomingMessage } from 'node:http';
import type { AccessLogEntry } from '../access-log.js';
import { normalizeHost } from '../routing/match.js';
import { requestAuthority } from './headers.js';

/** `requestSequence`: the sequence number of an id the proxy made (request-id.ts), 0 for the client's. */
export function arrivedEntry(req: IncomingMessage, requestId: string, requestSequence = 0): AccessLogEntry {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return {
    requestId,
    requestSequence,
    method: req.method ?? 'GET',
    host: normalizeHost(requestAuthority(req)),
    path: query === -1 ? url : url.slice(0, query),
    service: undefined,
    routeId: undefined,
    instance: undefined,
    status: 0,
    bytesIn: undefined,
    bytesOut: 0,
    durationMs: 0,
    upstreamMs: 0,
    retries: 0,
    error: undefined,
    protocol: req.httpVersionMajor === 2 ? 'HTTP/2' : 'HTTP/1.1',
    grpcStatus: undefined,
    traceId: undefined,
  };
}
