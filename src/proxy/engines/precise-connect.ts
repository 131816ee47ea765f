/**
 * A connector for undici pools whose connect timeout fires on time.
 *
 * undici runs its own connect timeout on coarse "fast timers" (ticks of ~0.5 s), so
 * a 300 ms timeout fired after ~1,075 ms on loopback and the default 2 s one
 * anywhere up to ~3 s (test/integration/connect-timeout.test.ts measures it). This
 * wraps undici's connector without its timer and races a native one; the error is
 * undici's own ConnectTimeoutError, so it maps to `connect_timeout` as before.
 */
import { undiciParts, type Connector } from '../../net/undici-parts.js';

export function preciseConnector(timeoutMs: number): Connector {
  const { buildConnector, errors } = undiciParts();
  const connect = buildConnector({ timeout: 0 });
  // A limit of 0 sets none (upstreamTimer in forwarder.ts): undici's connector without its timer.
  if (!(timeoutMs > 0)) return connect;
  return (options, callback) => {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      socket?.destroy();
      callback(new errors.ConnectTimeoutError(`connect timed out after ${timeoutMs} ms`), null);
    }, timeoutMs);
    // The connector returns the socket it opened, although undici's types say void.
    const socket = connect(options, (err, connected) => {
      if (settled) {
        connected?.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      if (err) callback(err, null);
      else callback(null, connected!);
    }) as unknown as { destroy(): void } | undefined;
  };
}
