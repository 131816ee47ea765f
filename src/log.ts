/**
 * Logging conventions: pino JSON, one constant message per kind of event, details
 * in fields (`log.warn({ service, held }, 'self-preservation engaged')`).
 * Components take a `Logger` and make a child with `{ component }`.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** File descriptor or path; defaults to stdout. */
  destination?: number | string;
  /**
   * Buffer up to this many bytes before writing (0 = write each line at once). Buffered
   * output is also flushed every FLUSH_INTERVAL_MS and by `logger.flush()`.
   */
  bufferBytes?: number;
}

/** How long a buffered line may wait before it reaches its destination. */
const FLUSH_INTERVAL_MS = 200;

export function createLogger(options: LoggerOptions = {}): Logger {
  const bufferBytes = options.bufferBytes ?? 0;
  const destination = pino.destination({
    dest: options.destination ?? 1,
    // Asynchronous writes keep logging off the request path's critical time.
    sync: false,
    minLength: bufferBytes,
  });
  if (bufferBytes > 0) {
    const timer = setInterval(() => {
      try {
        destination.flush();
      } catch {
        clearInterval(timer); // destroyed
      }
    }, FLUSH_INTERVAL_MS).unref();
    destination.once('close', () => clearInterval(timer));
  }
  return pino(
    {
      level: options.level ?? 'info',
      base: { pid: process.pid },
      timestamp: bufferBytes > 0 ? cachedIsoTime : pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

let lastMs = 0;
let lastTime = '';
/**
 * pino's isoTime, formatted once per millisecond: under load many access-log lines
 * share a millisecond, and Date#toISOString was a visible share of each request.
 */
function cachedIsoTime(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

/** A logger that writes nothing (unit tests, quiet CLI commands). */
export const silentLogger: Logger = pino({ level: 'silent' });

/**
 * The access log: one JSON line per proxied request, or none for `off`.
 * `target` is `off`, `stdout` or a file path (appended).
 */
export function createAccessLog(target: string): Logger | undefined {
  if (target === 'off') return undefined;
  // One write per ~8 KiB instead of one per request (sonic-boom needs it below its 16 KiB maxWrite): lines reach the target within FLUSH_INTERVAL_MS.
  return createLogger({ level: 'info', destination: target === 'stdout' ? 1 : target, bufferBytes: 8 * 1024 });
}
