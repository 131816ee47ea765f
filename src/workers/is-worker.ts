/**
 * Whether this process is a node:cluster worker, without loading node:cluster (a proxy with one
 * process never needs it). Node's own test: cluster.isWorker is `'NODE_UNIQUE_ID' in
 * process.env`, set by cluster.fork for the child it starts.
 */
export function isClusterWorker(): boolean {
  return 'NODE_UNIQUE_ID' in process.env;
}
