/**
 * How a calibration method turns a tensor's statistics into the range its 8-bit grid covers:
 * - 'minmax': the observed range, nothing clipped.
 * - 'percentile': cuts the given percentile of |x| (symmetric), or (100 − p)/2 percent off each
 *   end (asymmetric), as onnxruntime's percentile calibrator does.
 * - 'entropy': the |x| threshold whose 128-level quantized histogram is closest to the original in
 *   KL divergence (TensorRT's entropy calibration, also onnxruntime's).
 * - 'mse': the |x| threshold minimizing the expected squared error of quantize-dequantize over the
 *   histogram: rounding noise (step²/12) inside the range, squared distance to the edge outside.
 * Clipping thresholds t are searched on |x| and applied to both ends: [max(min, −t), min(max, t)].
 */
import { ActivationHistogram, type Histogram, type TensorRange } from './histogram';

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy' | 'mse';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'entropy', 'mse'];

export interface RangeMethodOptions {
  method: CalibrationMethod;
  /** For 'percentile', in (0, 100]. */
  percentile: number;
  /** Symmetric grids (int8, zero point 0) cover [−t, t]; asymmetric ones [min(lo, 0), max(hi, 0)]. */
  symmetric: boolean;
}

/** Quantized levels the entropy search compares against (TensorRT and onnxruntime use 128). */
export const ENTROPY_LEVELS = 128;

function clipAt(range: TensorRange, t: number): TensorRange {
  return { min: Math.max(range.min, -t), max: Math.min(range.max, t) };
}

/** The clipped range for one tensor. 'minmax' needs no histogram (pass the range itself). */
export function chooseRange(stats: ActivationHistogram | TensorRange, o: RangeMethodOptions): TensorRange {
  if (!(stats instanceof ActivationHistogram)) {
    if (o.method !== 'minmax') throw new Error(`mmkit internal error: calibration method '${o.method}' needs histograms`);
    return { min: stats.min, max: stats.max };
  }
  const range = stats.range;
  switch (o.method) {
    case 'minmax':
      return { ...range };
    case 'percentile': {
      if (o.symmetric) return clipAt(range, stats.magnitude.quantile(o.percentile / 100));
      const cut = (1 - o.percentile / 100) / 2;
      return { min: stats.signed.quantile(cut), max: stats.signed.quantile(1 - cut) };
    }
    case 'entropy':
      return clipAt(range, entropyThreshold(stats.magnitude));
    case 'mse':
      return clipAt(range, mseThreshold(stats, o.symmetric));
  }
}

/**
 * KL-divergence threshold search over the |x| histogram. For each candidate end bin i, P is the
 * histogram of the first i bins with everything beyond folded into bin i − 1 (what clipping does),
 * Q is the first i bins merged into ENTROPY_LEVELS groups and spread back evenly over each group's
 * non-empty bins (what rounding to that many levels keeps). The i with the least KL(P‖Q) wins.
 */
export function entropyThreshold(h: Histogram, levels = ENTROPY_LEVELS): number {
  // Every candidate costs O(bins): trying every 4th of 2048 keeps a ViT's ~100 tensors to seconds,
  // and moves the threshold by at most 3/2048 of the range.
  const stride = Math.max(1, Math.floor(h.bins / 512));
  const bins = h.bins;
  const counts = h.counts;
  if (bins <= levels || h.total === 0) return h.hi;
  const tail = new Float64Array(bins + 1); // tail[i] = sum of counts[i..]
  for (let b = bins - 1; b >= 0; b--) tail[b] = tail[b + 1] + counts[b];
  const q = new Float64Array(bins);
  let best = bins;
  let bestKl = Infinity;
  for (let i = levels; i <= bins; i += stride) {
    // Q: merge bins [0, i) into `levels` groups, spread each group's mass over its non-empty bins.
    for (let g = 0; g < levels; g++) {
      const start = Math.floor((g * i) / levels);
      const end = g === levels - 1 ? i : Math.floor(((g + 1) * i) / levels);
      let mass = 0;
      let nonEmpty = 0;
      for (let b = start; b < end; b++) {
        mass += counts[b];
        if (counts[b] > 0) nonEmpty++;
      }
      const each = nonEmpty > 0 ? mass / nonEmpty : 0;
      for (let b = start; b < end; b++) q[b] = counts[b] > 0 ? each : 0;
    }
    // P sums to the total (outliers folded in); Q to the total without them.
    const pTotal = h.total;
    const qTotal = pTotal - tail[i];
    if (qTotal <= 0) continue;
    let kl = 0;
    for (let b = 0; b < i; b++) {
      const p = b === i - 1 ? counts[b] + tail[i] : counts[b];
      if (p <= 0) continue;
      // Clipped mass landing in an empty last bin has no counterpart in Q: a small floor keeps the
      // divergence finite but large, so such cut points lose (onnxruntime smooths the same way).
      const qb = q[b] > 0 ? q[b] / qTotal : 1e-4 / i;
      kl += (p / pTotal) * Math.log(p / pTotal / qb);
    }
    if (kl < bestKl) {
      bestKl = kl;
      best = i;
    }
  }
  return best * h.width;
}

/**
 * The |x| threshold t minimizing the expected squared quantize-dequantize error over the signed
 * histogram (bin centres), for the 8-bit grid the tensor will get: 254 steps over [−t, t]
 * (symmetric) or 255 over [min(lo, 0), max(hi, 0)] (asymmetric).
 */
export function mseThreshold(stats: ActivationHistogram, symmetric: boolean): number {
  const s = stats.signed;
  const n = s.bins;
  // Prefix sums of count, count·c, count·c² over bin centres c.
  const c0 = new Float64Array(n + 1);
  const c1 = new Float64Array(n + 1);
  const c2 = new Float64Array(n + 1);
  for (let b = 0; b < n; b++) {
    const c = s.lo + (b + 0.5) * s.width;
    const k = s.counts[b];
    c0[b + 1] = c0[b] + k;
    c1[b + 1] = c1[b] + k * c;
    c2[b + 1] = c2[b] + k * c * c;
  }
  // Bins [0, j) have centres below x: j = number of centres < x.
  const binsBelow = (x: number) => Math.min(n, Math.max(0, Math.ceil((x - s.lo) / s.width - 0.5)));
  const m = stats.magnitude;
  let best = m.hi;
  let bestErr = Infinity;
  for (let k = 1; k <= m.bins; k++) {
    const t = k * m.width;
    const { min: lo, max: hi } = clipAt(stats.range, t);
    const step = symmetric ? (2 * Math.max(-lo, hi)) / 254 : (Math.max(hi, 0) - Math.min(lo, 0)) / 255;
    const below = binsBelow(lo);
    const aboveStart = binsBelow(hi);
    // Σ k(c − e)² = Σk·c² − 2e·Σk·c + e²·Σk over a bin span.
    const sq = (from: number, to: number, e: number) => c2[to] - c2[from] - 2 * e * (c1[to] - c1[from]) + e * e * (c0[to] - c0[from]);
    const clipped = sq(0, below, lo) + sq(aboveStart, n, hi);
    const inside = c0[aboveStart] - c0[below];
    const err = clipped + (inside * step * step) / 12;
    if (err < bestErr) {
      bestErr = err;
      best = t;
    }
  }
  return best;
}
