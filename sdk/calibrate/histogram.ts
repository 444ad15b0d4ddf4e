/**
 * Streaming statistics of one activation tensor over calibration data: its exact min/max (first
 * pass), then two fixed-range histograms (second pass) that the clipping methods search: one of the
 * signed values over [min, max] and one of |x| over [0, max|x|]. Memory is per bin, never per value.
 */

export interface TensorRange {
  min: number;
  max: number;
}

/** Running min/max of a tensor; NaNs are ignored (they carry no range). */
export class RangeTracker implements TensorRange {
  min = Infinity;
  max = -Infinity;
  count = 0;

  add(values: ArrayLike<number>): void {
    let lo = this.min;
    let hi = this.max;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    this.min = lo;
    this.max = hi;
    this.count += values.length;
  }
}

/** Equal-width bins over [lo, hi]; values beyond the ends count in the end bins. */
export class Histogram {
  readonly counts: Float64Array;
  readonly width: number;
  total = 0;

  constructor(
    readonly lo: number,
    readonly hi: number,
    bins: number,
  ) {
    this.counts = new Float64Array(bins);
    // A constant tensor still gets a usable (tiny) bin width.
    this.width = hi > lo ? (hi - lo) / bins : Math.max(Math.abs(hi), 1e-12) / bins;
  }

  get bins(): number {
    return this.counts.length;
  }

  /** Adds v (or |v| when `magnitude`) for every value. */
  add(values: ArrayLike<number>, magnitude = false): void {
    const { counts, lo, width } = this;
    const last = counts.length - 1;
    let n = 0;
    for (let i = 0; i < values.length; i++) {
      const v = magnitude ? Math.abs(values[i]) : values[i];
      if (v !== v) continue; // NaN
      const b = Math.floor((v - lo) / width);
      counts[b < 0 ? 0 : b > last ? last : b]++;
      n++;
    }
    this.total += n;
  }

  /** The value below which a fraction q of the counts lies, interpolated linearly within its bin. */
  quantile(q: number): number {
    const target = Math.min(Math.max(q, 0), 1) * this.total;
    let cum = 0;
    for (let b = 0; b < this.counts.length; b++) {
      const c = this.counts[b];
      if (c > 0 && cum + c >= target) return this.lo + (b + (target - cum) / c) * this.width;
      cum += c;
    }
    return this.hi;
  }
}

/** Both histograms of one tensor, over the range its first pass observed. */
export class ActivationHistogram {
  readonly signed: Histogram;
  readonly magnitude: Histogram;

  constructor(
    readonly range: TensorRange,
    bins: number,
  ) {
    this.signed = new Histogram(range.min, range.max, bins);
    this.magnitude = new Histogram(0, Math.max(Math.abs(range.min), Math.abs(range.max)), bins);
  }

  add(values: ArrayLike<number>): void {
    this.signed.add(values);
    this.magnitude.add(values, true);
  }
}
