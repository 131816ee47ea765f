import { describe, expect, it } from 'vitest';
import type { AccessLogEntry } from '../../src/access-log.js';
import { encodeLine, maxLineBytes } from '../../src/access-log-line.js';
import { accessLogEntry } from '../helpers/access-log-entry.js';
import { generatedRequestId } from '../../src/request-id.js';

/** The line as the access log built it as a string before access-log-line.ts: the reference. */
function referenceLine(entry: AccessLogEntry, nowMs: number, pid: number): string {
  const time = new Date(nowMs).toISOString();
  const json = (value: string): string => (/[\u0000-\u001f"\\\ud800-\udfff]/.test(value) ? JSON.stringify(value) : `"${value}"`);
  const ms = (value: number): number => Math.round(value * 1000) / 1000;
  let line = `{"level":"info","time":"${time}","pid":${pid},"requestId":${json(entry.requestId)}`;
  line += `,"method":${json(entry.method)},"host":${json(entry.host)},"path":${json(entry.path)}`;
  if (entry.service !== undefined) line += `,"service":${json(entry.service)}`;
  if (entry.routeId !== undefined) line += `,"routeId":${json(entry.routeId)}`;
  if (entry.instance !== undefined) line += `,"instance":${json(entry.instance)}`;
  line += `,"status":${entry.status}`;
  if (entry.bytesIn !== undefined) line += `,"bytesIn":${entry.bytesIn}`;
  line += `,"bytesOut":${entry.bytesOut},"durationMs":${ms(entry.durationMs)},"upstreamMs":${ms(entry.upstreamMs)},"retries":${entry.retries}`;
  if (entry.error !== undefined) line += `,"error":${json(entry.error)}`;
  line += entry.protocol === 'HTTP/2' ? ',"protocol":"HTTP/2"' : ',"protocol":"HTTP/1.1"';
  if (entry.grpcStatus !== undefined) line += `,"grpcStatus":${entry.grpcStatus}`;
  if (entry.traceId !== undefined) line += `,"traceId":"${entry.traceId}"`;
  return `${line},"msg":"request"}\n`;
}

/** The entry these tests encode: a request id and path like real ones. */
function entry(overrides: Partial<AccessLogEntry> = {}): AccessLogEntry {
  return accessLogEntry({ requestId: '0a1b2c3d4e5f-1z', path: '/api/orders', ...overrides });
}

const TIME = Date.UTC(2026, 11, 5, 23, 59, 59, 123);

function encoded(value: AccessLogEntry): string {
  const buffer = Buffer.alloc(maxLineBytes(value) + 16, 0xff);
  const end = encodeLine(buffer, 8, value, TIME, 4242);
  expect(end - 8).toBeLessThanOrEqual(maxLineBytes(value));
  // Nothing written past the line's end.
  expect(buffer.subarray(end).every((byte) => byte === 0xff)).toBe(true);
  return buffer.subarray(8, end).toString('utf8');
}

describe('encodeLine', () => {
  it('writes exactly the bytes of the string-built line', () => {
    const cases: Partial<AccessLogEntry>[] = [
      {},
      { service: undefined, routeId: undefined, instance: undefined, status: 404, error: 'no_route', bytesIn: 7 },
      { protocol: 'HTTP/2', grpcStatus: 14, traceId: '4bf92f3577b34da6a3ce929d0e0e4736' },
      { status: 0, bytesOut: 0, durationMs: 0, upstreamMs: 0, retries: 3, bytesIn: 0 },
      { bytesOut: Number.NaN, durationMs: -0.0001, upstreamMs: -2.5 },
      { bytesOut: 2 ** 53 + 2, bytesIn: -1, status: 1.5, retries: Number.POSITIVE_INFINITY },
      { durationMs: Number.NaN, upstreamMs: Number.POSITIVE_INFINITY },
      { durationMs: 2 ** 45 + 0.123, upstreamMs: 1e21 },
      { path: 'a"b\\c\n{"status":500}\u0001\ud800é', host: 'häst.example', method: 'G"ET', requestId: 'x\u007fy' },
      { path: '/päth/✓/😀', error: 'über', service: 'ö', traceId: 'tracé' },
      // Ids the proxy made, written from their sequence number.
      ...[1, 35, 36, 1_295, 1_296, 123_456_789, Number.MAX_SAFE_INTEGER - 1].map((sequence) => ({ requestSequence: sequence, requestId: generatedRequestId(sequence) })),
      // Each way off the common ending (no retry, no error, HTTP/1.1, no gRPC status, no trace), alone.
      { retries: 1 },
      { error: 'timeout' },
      { protocol: 'HTTP/2' },
      { grpcStatus: 0 },
      { traceId: '4bf92f3577b34da6a3ce929d0e0e4736' },
      // Statuses at and past the edges of node:http's range, and ones only String() writes.
      { status: -1 },
      { status: 999 },
      { status: 1000 },
      { status: 1e21 },
      { status: Number.NaN },
    ];
    for (const overrides of cases) {
      const value = entry(overrides);
      expect(encoded(value)).toBe(referenceLine(value, TIME, 4242));
    }
  });

  it('agrees with the reference for milliseconds and integers across their range', () => {
    let seed = 7;
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 20_000; i++) {
      const scale = 10 ** Math.floor(random() * 10);
      const value = entry({
        durationMs: random() * scale,
        upstreamMs: Math.round(random() * scale * 1000) / 1000,
        bytesOut: Math.floor(random() * scale * 1000),
        status: Math.floor(random() * 600),
      });
      expect(encoded(value)).toBe(referenceLine(value, TIME, 4242));
    }
  });

  it('writes pino\'s ISO time for any millisecond: within a second, across seconds and pids, before 1970 and past the year 9999', () => {
    const value = entry();
    const times = [
      TIME,
      TIME + 1,
      TIME + 877,
      TIME + 877,
      TIME - 123,
      TIME - 124,
      TIME + 60_000,
      0,
      999,
      -1,
      -1001,
      Date.UTC(9999, 11, 31, 23, 59, 59, 999),
      Date.UTC(10_000, 0, 1, 0, 0, 0, 7),
      8.64e15,
    ];
    for (const pid of [4242, 1]) {
      for (const time of times) {
        const buffer = Buffer.alloc(maxLineBytes(value));
        const end = encodeLine(buffer, 0, value, time, pid);
        expect(buffer.subarray(0, end).toString('utf8')).toBe(referenceLine(value, time, pid));
      }
    }
  });

  it('writes the same bytes from its caches of repeated values, past their bound and for long values, and as time and pid change', () => {
    const hosts = Array.from({ length: 2_500 }, (_, i) => `h${i}.example`);
    hosts.push(`${'x'.repeat(300)}.example`, 'häst.example', 'a"b');
    for (const round of [1, 2]) {
      for (const [i, host] of hosts.entries()) {
        const value = entry({ host, service: `s${i % 7}`, instance: `s${i % 7}/i${i % 3}`, error: i % 2 === 0 ? 'upstream_timeout' : undefined, bytesIn: i % 5 === 0 ? i : undefined, status: 100 + (i % 500) });
        const time = Date.UTC(2026, 11, 5, 23, 59, 59, i % 1000);
        const pid = round === 1 ? 4242 : 7;
        const buffer = Buffer.alloc(maxLineBytes(value));
        const end = encodeLine(buffer, 0, value, time, pid);
        expect(buffer.subarray(0, end).toString('utf8')).toBe(referenceLine(value, time, pid));
      }
    }
  });

  it('writes the same bytes for fields cached together, whichever of them changes: methods of a host, routes and services of an instance, past the variants a key holds', () => {
    const methods = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'PROPFIND', 'G"ET'];
    const variants: Partial<AccessLogEntry>[] = [];
    for (const method of methods) variants.push({ method, host: 'one.example' });
    // Built at run time: equal values that are not the same string object.
    for (const method of methods) variants.push({ method: [...method].join(''), host: 'one.example' });
    for (let i = 0; i < 12; i++) {
      variants.push({ instance: 'api/i1', service: i % 3 === 0 ? undefined : `api${i % 4}`, routeId: i % 2 === 0 ? undefined : `r${i}` });
    }
    variants.push({ instance: 'api/i1', service: 'ap"i', routeId: 'ré' }, { instance: 'a"pi/i1', service: 'api', routeId: 'r1' });
    // No instance: not routed, or routed and refused before an attempt.
    variants.push(
      { instance: undefined, service: undefined, routeId: undefined, status: 404 },
      { instance: undefined, service: 'api', routeId: undefined, status: 503 },
      { instance: undefined, service: 'api', routeId: 'r1', status: 429, bytesIn: 12 },
    );
    for (const status of [0, 1, 99, 100, 101, 200, 204, 304, 499, 599, 600, 998, 999, 1000, -1, 2.5]) {
      variants.push({ status }, { status, bytesIn: 0 }, { status, bytesIn: 4_096 });
    }
    for (const round of [1, 2, 3]) {
      for (const overrides of round === 2 ? [...variants].reverse() : variants) {
        const value = entry(overrides);
        expect(encoded(value)).toBe(referenceLine(value, TIME, 4242));
      }
    }
  });
});
