/**
 * Preloaded into a proxy by bench/access-log-cost.ts (`node --import`): times every
 * AccessLog.write (one line: the time, the encoding, the batch) and RequestRecord.write (the
 * request's metrics, its bytesOut reads and the access log) in the running, loaded proxy. On
 * SIGUSR2 it writes the sums since the last signal to ACCESS_LOG_TIMER_FILE and starts over.
 * Plain JavaScript, no relative imports: the build's modules come from WAYPOST_DIST_DIR (the same
 * module instances the CLI loads, so patching their prototypes patches the proxy's).
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const dist = process.env.WAYPOST_DIST_DIR;
const out = process.env.ACCESS_LOG_TIMER_FILE;
const { AccessLog } = await import(pathToFileURL(path.join(dist, 'access-log.js')).href);
const { RequestRecord } = await import(pathToFileURL(path.join(dist, 'proxy', 'request-record.js')).href);

/** What one performance.now() pair costs here: taken off every timed call. */
function pairCostMs() {
  const n = 200_000;
  let sink = 0;
  const start = performance.now();
  for (let i = 0; i < n; i++) sink += performance.now() - performance.now();
  const total = performance.now() - start;
  globalThis.accessLogTimerSink = sink;
  return total / n;
}
const overheadMs = pairCostMs();

let lineMs = 0;
let lines = 0;
let recordMs = 0;
let records = 0;

const writeLine = AccessLog.prototype.write;
AccessLog.prototype.write = function timedWrite(entry) {
  const start = performance.now();
  writeLine.call(this, entry);
  lineMs += performance.now() - start - overheadMs;
  lines++;
};
const writeRecord = RequestRecord.prototype.write;
RequestRecord.prototype.write = function timedRecord(metrics, onAccessLog) {
  const start = performance.now();
  writeRecord.call(this, metrics, onAccessLog);
  // The line's own timer ran inside this one: its pair is taken off too.
  recordMs += performance.now() - start - (onAccessLog === undefined ? 1 : 2) * overheadMs;
  records++;
};

process.on('SIGUSR2', () => {
  writeFileSync(out, JSON.stringify({ lineMs, lines, recordMs, records, overheadMs }));
  lineMs = lines = recordMs = records = 0;
});
