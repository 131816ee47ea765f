/**
 * Logging conventions: pino JSON, one constant message per kind of event, details
 * in fields (`log.warn({ service, held }, 'self-preservation engaged')`).
 * Components take a `Logger` and make a child with `{ component }`.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  /** @default 'info' */
  level?: string;
  /** File descriptor or path. @default 1 (stdout) */
  destination?: number | string;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = pino.destination({
    dest: options.destination ?? 1,
    // Asynchronous writes keep logging off the request path's critical time.
    sync: false,
  });
  return pino(
    {
      level: options.level ?? 'info',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** A logger that writes nothing (unit tests, quiet CLI commands). */
export const silentLogger: Logger = pino({ level: 'silent' });
