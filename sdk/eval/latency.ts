/**
 * Latency statistics from per-batch timings.
 *
 * Warm-up: the first batches pay for lazy allocation, kernel selection and cold caches, so their
 * timings are left out. The default is DEFAULT_WARMUP_BATCHES (2) — a fixed count rather than a
 * share of the run, because the start-up cost is fixed and does not grow with the dataset. At
 * least one batch is always timed: with fewer than warm-up + 1 batches, only the last is kept.
 */
export const DEFAULT_WARMUP_BATCHES = 2;

export interface BatchTiming {
  /** Wall time of one session run, in milliseconds. */
  ms: number;
  /** Items in the batch. */
  items: number;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  mean: number;
}

export interface LatencyStats {
  /** Batches left out as warm-up. */
  warmupBatches: number;
  timedBatches: number;
  timedItems: number;
  /** Milliseconds per batch run. */
  perBatchMs: Percentiles;
  /** Milliseconds per item (each batch's time divided by its items). */
  perItemMs: Percentiles;
  /** Timed items per second of timed run time. */
  itemsPerSecond: number;
}

/**
 * The q-quantile (q in [0, 1]) of ascending-sorted values, linearly interpolated between the
 * two nearest ranks (the common "type 7" definition, as numpy's default).
 */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return { p50: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), p99: quantile(sorted, 0.99), mean };
}

export function latencyStats(timings: readonly BatchTiming[], warmup = DEFAULT_WARMUP_BATCHES): LatencyStats {
  const skip = Math.max(0, Math.min(Math.floor(warmup), timings.length - 1));
  const timed = timings.slice(skip);
  const timedItems = timed.reduce((n, t) => n + t.items, 0);
  const totalMs = timed.reduce((n, t) => n + t.ms, 0);
  return {
    warmupBatches: skip,
    timedBatches: timed.length,
    timedItems,
    perBatchMs: percentiles(timed.map((t) => t.ms)),
    perItemMs: percentiles(timed.map((t) => t.ms / t.items)),
    itemsPerSecond: totalMs > 0 ? (timedItems * 1000) / totalMs : 0,
  };
}
