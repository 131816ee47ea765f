/**
 * The access log: one JSON line per proxied request, in pino's line format
 * (`level`, `time`, `pid`, the entry's fields, `msg: "request"`) so one log
 * pipeline reads both logs.
 *
 * It sits on every request, so it is not a pino logger: the record has a fixed
 * shape and is serialised by hand, byte by byte straight into a batch Buffer
 * (access-log-line.ts: no string per line, nothing allocated for ASCII text),
 * and batches go to pino's
 * asynchronous destination (sonic-boom, in buffer mode), whose per-write cost is
 * then paid once per ~16 KiB instead of once per line. A batch waits at most
 * FLUSH_INTERVAL_MS. (Synchronous writes for regular files were measured too: no
 * difference beyond noise, so a slow disk never blocks the event loop.)
 * When the target cannot keep up, lines beyond MAX_PENDING_BYTES are dropped and
 * counted rather than growing memory without bound or blocking requests.
 */
import pino from 'pino';
import { encodeLine, maxLineBytes, type AccessLogEntry } from './access-log-line.js';
import type { Logger } from './log.js';
import { wallClockMs } from './wall-clock.js';

export type { AccessLogEntry } from './access-log-line.js';

/** A batch is handed to the destination once it holds this much. */
const BATCH_BYTES = 16 * 1024;
/** Room in a batch buffer: a full batch plus the longest line that still fits beside it. */
const BATCH_CAPACITY = 4 * BATCH_BYTES;
/** How long a line may wait in a batch. */
const FLUSH_INTERVAL_MS = 200;
/** Bytes the destination may hold unwritten before further lines are dropped. */
const MAX_PENDING_BYTES = 16 * 1024 * 1024;
/** A stop waits at most this long for the last lines to be written. */
const FLUSH_WAIT_MS = 5_000;

export class AccessLog {
  readonly #destination: ReturnType<typeof pino.destination>;
  readonly #timer: NodeJS.Timeout;
  readonly #log: Logger | undefined;
  readonly #batch = Buffer.allocUnsafeSlow(BATCH_CAPACITY);
  readonly #pid = process.pid;
  #batchLength = 0;
  /** Batches dropped since the last report. */
  #dropped = 0;
  /** Bytes handed to the destination and not yet written or dropped. */
  #unwritten = 0;
  #onWritten: (() => void) | undefined;
  /** A file we opened (closed on stop), not the shared stdout. */
  readonly #ownsTarget: boolean;
  #closed = false;

  /** `target` is `stdout` or a file path (appended, created when missing). */
  constructor(target: string, logger?: Logger) {
    this.#log = logger;
    this.#ownsTarget = target !== 'stdout';
    this.#destination = pino.destination({
      dest: target === 'stdout' ? 1 : target,
      sync: false,
      append: true,
      contentMode: 'buffer',
      maxLength: MAX_PENDING_BYTES,
    });
    this.#destination.on('write', (bytes: number) => this.#written(bytes));
    this.#destination.on('drop', (data: Buffer) => {
      this.#dropped++;
      this.#written(data.length);
    });
    // A failing target (disk full, closed pipe) must never take the proxy down.
    this.#destination.on('error', (err) => this.#log?.error({ err }, 'access log write failed'));
    this.#timer = setInterval(() => this.#flushBatch(), FLUSH_INTERVAL_MS).unref();
  }

  write(entry: AccessLogEntry): void {
    // Within a millisecond of Date.now(), for a tenth of its cost (wall-clock.ts).
    const now = Math.floor(wallClockMs());
    const worstCase = maxLineBytes(entry);
    if (this.#batchLength + worstCase > BATCH_CAPACITY) {
      this.#flushBatch();
      if (worstCase > BATCH_CAPACITY) {
        // A line longer than a whole batch (a huge path) goes out on its own.
        const line = Buffer.allocUnsafe(worstCase);
        return this.#hand(line.subarray(0, encodeLine(line, 0, entry, now, this.#pid)));
      }
    }
    this.#batchLength = encodeLine(this.#batch, this.#batchLength, entry, now, this.#pid);
    if (this.#batchLength >= BATCH_BYTES) this.#flushBatch();
  }

  /** Writes everything buffered and resolves once it reached the target (or after FLUSH_WAIT_MS). */
  async flush(): Promise<void> {
    this.#flushBatch();
    if (this.#unwritten <= 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, FLUSH_WAIT_MS);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#onWritten = done;
    });
    this.#onWritten = undefined;
  }

  /**
   * Log rotation (SIGHUP): what is buffered goes to the current file, then the path is
   * opened again, so after `mv access.log access.log.1` new lines land in a new access.log.
   */
  reopen(): void {
    this.#flushBatch();
    if (this.#ownsTarget && !this.#closed) this.#destination.reopen();
  }

  /** Flushes, then closes the target (stdout stays open: the process log shares it). */
  async close(): Promise<void> {
    if (this.#closed) return;
    clearInterval(this.#timer);
    await this.flush();
    this.#closed = true;
    if (!this.#ownsTarget) return;
    // end() closes the file once sonic-boom wrote what it holds.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, FLUSH_WAIT_MS);
      this.#destination.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.#destination.end();
    });
  }

  #flushBatch(): void {
    if (this.#dropped > 0) {
      this.#log?.warn({ dropped: this.#dropped }, 'access log target is too slow; lines dropped');
      this.#dropped = 0;
    }
    if (this.#batchLength === 0 || this.#closed) return;
    // sonic-boom keeps what it is given until it is written: it gets a right-sized copy (so the
    // 16 MiB bound is real memory), and the batch buffer is reused.
    const batch = Buffer.allocUnsafe(this.#batchLength);
    this.#batch.copy(batch, 0, 0, this.#batchLength);
    this.#batchLength = 0;
    this.#hand(batch);
  }

  #hand(chunk: Buffer): void {
    if (this.#closed) return;
    this.#unwritten += chunk.length;
    // In buffer mode sonic-boom takes Buffers; its types only declare strings.
    this.#destination.write(chunk as unknown as string);
  }

  #written(bytes: number): void {
    this.#unwritten -= bytes;
    if (this.#unwritten <= 0) this.#onWritten?.();
  }
}

/** The access log for a config value: `off`, `stdout` or a file path. */
export function createAccessLog(target: string, logger?: Logger): AccessLog | undefined {
  return target === 'off' ? undefined : new AccessLog(target, logger);
}
