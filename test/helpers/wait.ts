/**
 * The one way tests wait for something that happens asynchronously: poll a probe until it
 * gives a value, with a timeout whose error names what was awaited and what was last seen.
 */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface WaitOptions {
  /** Give up after this long. @default 5000 */
  timeoutMs?: number;
  /** Pause between probes. @default 10 */
  intervalMs?: number;
}

/** Nothing yet: the probe is asked again. */
type NotYet = undefined | null | false;

/**
 * Resolves with the first value of `probe` that is not `undefined`, `null` or `false` (a
 * probe that throws counts as "not yet", and its last error is in the timeout's message).
 * @example const record = await waitFor('orders-1 registered', () => store.getService('orders').then((s) => s.instances[0]));
 */
export async function waitFor<T>(what: string, probe: () => T | NotYet | Promise<T | NotYet>, options: WaitOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const intervalMs = options.intervalMs ?? 10;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${describe(last)})`);
    await sleep(intervalMs);
  }
}

/**
 * Polls `read` until `done(value)` holds and returns that value; on timeout throws with the
 * last value read, so a test shows how far it got.
 */
export async function readUntil<T>(what: string, read: () => T | Promise<T>, done: (value: T) => boolean, options: WaitOptions = {}): Promise<T> {
  return waitFor(what, async () => {
    const value = await read();
    if (done(value)) return { value };
    throw new Error(`got ${describe(value)}`);
  }, options).then((box) => box.value);
}

function describe(value: unknown): string {
  if (value instanceof Error) return value.message;
  try {
    const text = JSON.stringify(value) ?? String(value);
    return text.length > 300 ? `${text.slice(0, 300)}…` : text;
  } catch {
    return String(value);
  }
}
