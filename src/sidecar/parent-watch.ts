/**
 * Notices that the process which started this one has exited. A launcher such
 * as `npx` (npm → sh → node) exits on SIGTERM without passing the signal on,
 * which would leave the sidecar running as an orphan that never drains; when
 * the parent goes, the sidecar is re-parented (to init or a subreaper), so a
 * change of `process.ppid` is the sign. Polling costs one getppid() a second.
 */

/** How often the parent is looked at. */
export const PARENT_POLL_MS = 1000;

/**
 * Calls `onGone` once when this process's parent changes. Returns a function
 * that stops watching. The timer never keeps the process alive.
 */
export function watchParent(onGone: (formerParent: number) => void, intervalMs = PARENT_POLL_MS): () => void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone(parent);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
