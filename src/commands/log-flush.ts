/**
 * The logger writes asynchronously and pino writes out what is left when the
 * process exits, which would print log lines after the one-line fatal error.
 * Commands wait for the logger before letting a start-up failure reach main().
 */
import { once } from 'node:events';
import pino from 'pino';
import type { Logger } from '../log.js';

/** Never wait longer than this on a stuck stdout. */
const FLUSH_LIMIT_MS = 2000;

/** The async pino destination (sonic-boom). `logger.flush(cb)` calls back at once when nothing is batched, even with a write in flight. */
interface Destination extends NodeJS.EventEmitter {
  _writing?: boolean;
}

/** Resolves once every line logged so far has reached the destination (or after FLUSH_LIMIT_MS). */
export async function flushLog(logger: Logger): Promise<void> {
  const destination = (logger as unknown as Record<symbol, Destination | undefined>)[pino.symbols.streamSym];
  // Not writing means nothing is pending: an idle sonic-boom writes each line as it comes.
  if (!destination?._writing) return;
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), FLUSH_LIMIT_MS).unref();
  await once(destination, 'drain', { signal: timeout.signal }).catch(() => {});
  clearTimeout(timer);
}

/** Runs `start`; when it fails, the log is written out before the error goes on. */
export async function startOrFlush<T>(logger: Logger, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    await flushLog(logger);
    throw err;
  }
}
