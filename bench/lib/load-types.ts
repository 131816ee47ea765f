/** The shape every load generator takes and gives (load.ts runs them; paced.ts is one of them). */

export type LoadTool = 'autocannon' | 'wrk' | 'paced';

export interface LoadRequest {
  url: string;
  hostHeader?: string | undefined;
  connections: number;
  durationSeconds: number;
  /** wrk threads (`-t`); undefined = 1. */
  threads?: number | undefined;
  /** Total requests per second for the paced tool. */
  rate?: number | undefined;
}

export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** Socket errors and timeouts. */
  errors: number;
  non2xx: number;
}
