/**
 * A fixed log-scale latency histogram: bucket bounds grow by √2, from 0.1 ms to about
 * 52 s, so 40 counters cover every latency a proxy sees. Fixed bounds make histograms
 * addable (a cluster primary sums its workers') and cost no allocation per request.
 *
 * A quantile reads as the geometric middle of its bucket, so it is within a factor of
 * 2^¼ (−16 % … +19 %) of the true value for latencies between 0.1 ms and 52 s.
 */

/** Counters per histogram. */
export const LATENCY_BUCKETS = 40;
/** Upper bound of bucket 0 (everything faster). */
const LOWEST_MS = 0.1;
/** Bucket i ≥ 1 holds [LOWEST_MS·2^((i−1)/2), LOWEST_MS·2^(i/2)); the last one is open-ended. */
const STEPS_PER_DOUBLING = 2;

/** The bucket of a latency in milliseconds (NaN and negatives land in bucket 0). */
export function latencyBucket(ms: number): number {
  if (!(ms >= LOWEST_MS)) return 0;
  const bucket = Math.floor(Math.log2(ms / LOWEST_MS) * STEPS_PER_DOUBLING) + 1;
  return bucket < LATENCY_BUCKETS ? bucket : LATENCY_BUCKETS - 1;
}

/** What a bucket's latencies read as: its geometric middle (bucket 0: its upper bound; the last: its lower bound). */
export function bucketValueMs(bucket: number): number {
  if (bucket <= 0) return LOWEST_MS;
  if (bucket >= LATENCY_BUCKETS - 1) return LOWEST_MS * 2 ** ((LATENCY_BUCKETS - 2) / STEPS_PER_DOUBLING);
  return LOWEST_MS * 2 ** ((bucket - 0.5) / STEPS_PER_DOUBLING);
}

/**
 * The q-quantile (0 < q ≤ 1) of the histogram at `counts[offset … offset + LATENCY_BUCKETS)`
 * holding `total` observations, in ms; null when it is empty.
 */
export function latencyQuantile(counts: Uint32Array, offset: number, total: number, q: number): number | null {
  if (total <= 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let bucket = 0; bucket < LATENCY_BUCKETS; bucket++) {
    seen += counts[offset + bucket]!;
    if (seen >= rank) return bucketValueMs(bucket);
  }
  return bucketValueMs(LATENCY_BUCKETS - 1);
}
