/**
 * Whether this process is a node:cluster worker, without loading node:cluster in a process that
 * cannot be one (a proxy with one process never needs it). Every cluster worker has an IPC
 * channel to its primary (process.send); only then is cluster.isWorker asked. (Node deletes
 * NODE_UNIQUE_ID from a worker's env at start-up, so that variable cannot tell.)
 */
export async function isClusterWorker(): Promise<boolean> {
  if (typeof process.send !== 'function') return false;
  return (await import('node:cluster')).default.isWorker;
}
