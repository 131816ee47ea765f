/**
 * h2load (Debian's nghttp2-client), the HTTP/2 load generator of `bench/h2.ts`: one thread pinned
 * to the load CPU, h2c with prior knowledge, timing-based (`-D`), bounded by a guard timer.
 *
 * h2load prints no percentiles: the latency it gives is the mean and the maximum of "time for
 * request" (from sending the request to the last byte of the response).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { runLoadTool } from './load.js';
import type { Pinning } from './pin.js';
import type { ProcessGroup } from './processes.js';

export interface H2LoadRequest {
  /** Where to connect. */
  port: number;
  /** :authority to send (routing by host); undefined = 127.0.0.1:port. */
  authority: string | undefined;
  path: string;
  clients: number;
  /** Concurrent streams per client (`-m`). */
  streams: number;
  durationSeconds: number;
  /** POST this file as the body (`-d`), with these extra headers. */
  bodyFile?: string;
  headers?: string[];
}

export interface H2LoadResult {
  requestsPerSecond: number;
  meanMs: number;
  maxMs: number;
  succeeded: number;
  /** Requests that errored below HTTP (reset streams, connection errors, timeouts). */
  errors: number;
  non2xx: number;
}

/** A gRPC request message in its length-prefixed frame: an Echo request with `text: "hello"`. */
export function writeGrpcRequestBody(dir: string): string {
  const message = Buffer.concat([Buffer.from([0x0a, 5]), Buffer.from('hello')]);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1); // byte 0: not compressed
  const file = path.join(dir, 'grpc-echo-request.bin');
  writeFileSync(file, Buffer.concat([prefix, message]));
  return file;
}

export const GRPC_HEADERS = ['content-type: application/grpc', 'te: trailers'];

export async function runH2Load(request: H2LoadRequest, group: ProcessGroup, pinning: Pinning): Promise<H2LoadResult> {
  const authority = request.authority ?? `127.0.0.1:${request.port}`;
  const seconds = Math.max(1, Math.round(request.durationSeconds));
  const args = ['-t1', `-c${request.clients}`, `-m${request.streams}`, `-D${seconds}`, `--connect-to=127.0.0.1:${request.port}`];
  if (request.bodyFile) args.push('-d', request.bodyFile);
  for (const header of request.headers ?? []) args.push('-H', header);
  args.push(`http://${authority}${request.path}`);
  const output = await runLoadTool(group, 'h2load', args, pinning, seconds);
  return parseH2LoadOutput(output);
}

const TIME_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000 };

function parseTime(text: string): number {
  const match = /^([\d.]+)(us|ms|s)$/.exec(text);
  if (!match) throw new Error(`unexpected h2load time "${text}"`);
  return Number(match[1]) * TIME_UNITS[match[2]!]!;
}

/** Reads h2load's summary: req/s, request counts, status classes, "time for request". */
export function parseH2LoadOutput(output: string): H2LoadResult {
  const finished = /^finished in [\d.]+\w+, ([\d.]+) req\/s/m.exec(output);
  const requests = /^requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored/m.exec(output);
  const status = /^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/m.exec(output);
  const time = /^time for request:\s+(\S+)\s+(\S+)\s+(\S+)/m.exec(output);
  if (!finished || !requests || !status || !time) throw new Error(`could not parse h2load output:\n${output.slice(-1500)}`);
  return {
    requestsPerSecond: Number(finished[1]),
    meanMs: parseTime(time[3]!),
    maxMs: parseTime(time[2]!),
    succeeded: Number(requests[1]),
    // h2load's "failed" also counts non-2xx answers; "errored" (which includes timeouts) does not.
    errors: Number(requests[3]),
    non2xx: Number(status[2]) + Number(status[3]) + Number(status[4]),
  };
}
