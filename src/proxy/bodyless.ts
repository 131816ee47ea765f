/**
 * node:http drains every request its handler did not read once the response has finished
 * (`req._dump()`: resume, read to the end, emit `end`). For a request without a body that is
 * four process.nextTick hops and the stream work behind them on every GET, with nothing on the
 * wire to drain. A request forwarded with no body (planBody: `none`) is marked as being
 * consumed instead, which is all that drain is conditioned on. Reading it still works
 * (the http-proxy engine pipes it). Only node:http's HTTP/1 requests carry the flag: set by
 * IncomingMessage#_read, read by the server's response-finished step.
 */
import type { IncomingMessage } from 'node:http';

export function skipDrainOfEmptyBody(req: IncomingMessage): void {
  if (req.httpVersionMajor === 1) (req as { _consuming?: boolean })._consuming = true;
}
