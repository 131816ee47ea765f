/** An access-log entry of a plain proxied GET, with `overrides` applied (access-log tests). */
import type { AccessLogEntry } from '../../src/access-log.js';

export function accessLogEntry(overrides: Partial<AccessLogEntry> = {}): AccessLogEntry {
  return {
    requestId: 'r-1',
    requestSequence: 0,
    method: 'GET',
    host: 'orders.localhost',
    path: '/',
    service: 'orders',
    routeId: 'convention',
    instance: 'orders/o-1',
    status: 200,
    bytesIn: undefined,
    bytesOut: 120,
    durationMs: 1.23456789,
    upstreamMs: 0.5,
    retries: 0,
    error: undefined,
    protocol: 'HTTP/1.1',
    grpcStatus: undefined,
    traceId: undefined,
    ...overrides,
  };
}
