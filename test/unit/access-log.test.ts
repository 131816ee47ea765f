import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AccessLog } from '../../src/access-log.js';
import { testTempDir } from '../helpers/temp-dir.js';
import { accessLogEntry } from '../helpers/access-log-entry.js';

const entry = accessLogEntry;

function readLines(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('AccessLog', () => {
  it("writes pino-shaped JSON lines, omitting absent fields, and all of them by close()", async () => {
    const file = path.join(testTempDir('access'), 'access.log');
    const log = new AccessLog(file);
    for (let i = 0; i < 5_000; i++) log.write(entry({ requestId: `r-${i}` }));
    log.write(entry({ requestId: 'failed', service: undefined, routeId: undefined, instance: undefined, status: 404, error: 'no_route', bytesIn: 7 }));
    await log.close();
    const lines = readLines(file);
    expect(lines).toHaveLength(5_001);
    expect(lines[0]).toMatchObject({ level: 'info', pid: process.pid, requestId: 'r-0', service: 'orders', status: 200, durationMs: 1.235, msg: 'request' });
    expect(Number.isNaN(Date.parse(lines[0]!.time as string))).toBe(false);
    expect(lines[0]).not.toHaveProperty('bytesIn');
    expect(lines[0]).not.toHaveProperty('error');
    const failed = lines[5_000]!;
    expect(failed).toMatchObject({ requestId: 'failed', status: 404, error: 'no_route', bytesIn: 7 });
    expect(failed).not.toHaveProperty('service');
    expect(lines[0]).toMatchObject({ protocol: 'HTTP/1.1' });
    expect(lines[0]).not.toHaveProperty('grpcStatus');
  });

  it("stamps each line with the time it was written (the wall clock, within a few milliseconds), in toISOString's form", async () => {
    const file = path.join(testTempDir('access'), 'access.log');
    const log = new AccessLog(file);
    const written: [number, number][] = [];
    // Lines across several seconds' boundaries and millisecond values with one, two and three digits.
    const until = Date.now() + 2_200;
    while (Date.now() < until) {
      const before = Date.now();
      log.write(entry());
      written.push([before, Date.now()]);
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    await log.close();
    const times = readLines(file).map((line) => line.time as string);
    expect(times).toHaveLength(written.length);
    for (const [i, time] of times.entries()) {
      const at = Date.parse(time);
      expect(new Date(at).toISOString()).toBe(time);
      // The log's clock is the monotonic one plus an offset sampled from Date.now() every 100 ms
      // (src/wall-clock.ts): within about a millisecond of it, a little more on this VM, whose
      // wall clock is slewed against the monotonic one by up to 4 ms a second.
      expect(at).toBeGreaterThanOrEqual(written[i]![0] - 3);
      expect(at).toBeLessThanOrEqual(written[i]![1] + 3);
    }
  });

  it('records the protocol and, for gRPC calls, the grpc-status', async () => {
    const file = path.join(testTempDir('access'), 'access.log');
    const log = new AccessLog(file);
    log.write(entry({ protocol: 'HTTP/2', grpcStatus: 14 }));
    log.write(entry({ protocol: 'HTTP/2', grpcStatus: 0 }));
    await log.close();
    const lines = readLines(file);
    expect(lines.map((l) => [l.protocol, l.grpcStatus])).toEqual([
      ['HTTP/2', 14],
      ['HTTP/2', 0],
    ]);
  });

  it('records the trace id of a traced request, and none for the others', async () => {
    const file = path.join(testTempDir('access'), 'access.log');
    const log = new AccessLog(file);
    log.write(entry({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736' }));
    log.write(entry());
    await log.close();
    const lines = readLines(file);
    expect(lines[0]).toMatchObject({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736' });
    expect(lines[1]).not.toHaveProperty('traceId');
  });

  it('escapes what a client controls (quotes, backslashes, control characters, lone surrogates)', async () => {
    const file = path.join(testTempDir('access'), 'access.log');
    const log = new AccessLog(file);
    const hostile = 'a"b\\c\n{"status":500}\u0001\ud800é';
    log.write(entry({ path: hostile, host: hostile, method: 'G"ET' }));
    await log.flush();
    const [line] = readLines(file);
    expect(line!.path).toBe(JSON.parse(JSON.stringify(hostile)));
    expect(line!.host).toBe(line!.path);
    expect(line!.method).toBe('G"ET');
    expect(line!.status).toBe(200);
    await log.close();
  });

  it('keeps order and content across batches, with multi-byte text and a line longer than a batch', async () => {
    const file = path.join(testTempDir('access'), 'access.log');
    const log = new AccessLog(file);
    const huge = `/${'ü'.repeat(40_000)}`;
    for (let i = 0; i < 300; i++) log.write(entry({ requestId: `r-${i}`, path: i === 150 ? huge : `/päth/${i}/✓` }));
    await log.close();
    const lines = readLines(file);
    expect(lines.map((l) => l.requestId)).toEqual(Array.from({ length: 300 }, (_, i) => `r-${i}`));
    expect(lines[150]!.path).toBe(huge);
    expect(lines[299]!.path).toBe('/päth/299/✓');
  });

  it('writes to a pipe (a FIFO with a reader) asynchronously and delivers every line by close()', async () => {
    const dir = testTempDir('access');
    const fifo = path.join(dir, 'access.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const reader = spawn('cat', [fifo]);
    let received = '';
    reader.stdout.on('data', (chunk: Buffer) => (received += chunk.toString()));
    const ended = new Promise<void>((resolve) => reader.once('close', () => resolve()));
    const log = new AccessLog(fifo);
    for (let i = 0; i < 2_000; i++) log.write(entry({ requestId: `p-${i}` }));
    await log.close();
    await ended;
    const ids = received
      .split('\n')
      .filter(Boolean)
      .map((line) => (JSON.parse(line) as { requestId: string }).requestId);
    expect(ids).toEqual(Array.from({ length: 2_000 }, (_, i) => `p-${i}`));
  });

  it('flush() resolves with the lines on disk and the log stays usable', async () => {
    const file = path.join(testTempDir('access'), 'access.log');
    const log = new AccessLog(file);
    log.write(entry({ requestId: 'first' }));
    await log.flush();
    expect(readLines(file).map((l) => l.requestId)).toEqual(['first']);
    log.write(entry({ requestId: 'second' }));
    await log.close();
    expect(readLines(file).map((l) => l.requestId)).toEqual(['first', 'second']);
  });
});
