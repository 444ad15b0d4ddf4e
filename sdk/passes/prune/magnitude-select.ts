/**
 * Which weights magnitude pruning zeroes: the k smallest |w| of one tensor or of several taken
 * together (an exact count, found by a radix select over the float bits without sorting), and the
 * N:M pattern (in every group of M consecutive weights along the reduction axis, the N largest stay).
 */

/**
 * How a weight tensor's elements line up as [output channel, reduction index k]:
 * element (o, k) is at o·outStride + k·kStride.
 */
export interface ReductionLayout {
  outputs: number;
  k: number;
  outStride: number;
  kStride: number;
}

const ABS_MASK = 0x7fffffff;
// |w| as float bits are ordered like the magnitudes (NaN above Infinity, so NaNs are kept).
const HIGH_BINS = 1 << 15;
const LOW_BINS = 1 << 16;

function magnitudeBits(w: Float32Array): Uint32Array {
  return new Uint32Array(w.buffer, w.byteOffset, w.length);
}

/**
 * Zeroes, in place, the `k` entries of smallest |w| across all arrays taken together. Ties at the
 * threshold are taken in order (earlier array, then lower index first), so exactly `k` entries end
 * up among the zeroed ones (entries already 0 count as the smallest).
 */
export function zeroSmallest(weights: readonly Float32Array[], k: number): void {
  const bits = weights.map(magnitudeBits);
  const total = bits.reduce((n, b) => n + b.length, 0);
  if (!(k >= 0 && k <= total && Number.isInteger(k))) throw new RangeError(`zeroSmallest: k must be a whole number in [0, ${total}], got ${k}`);
  if (k === 0) return;
  const { threshold, below } = kthMagnitudeBits(bits, k);
  let ties = k - below;
  for (const b of bits) {
    for (let i = 0; i < b.length; i++) {
      const m = b[i] & ABS_MASK;
      if (m < threshold) b[i] = 0;
      else if (m === threshold && ties > 0) {
        b[i] = 0;
        ties--;
      }
    }
  }
}

/** The bits of the k-th smallest |w| (1-based) and how many entries lie strictly below it. */
function kthMagnitudeBits(bits: readonly Uint32Array[], k: number): { threshold: number; below: number } {
  const high = new Float64Array(HIGH_BINS);
  for (const b of bits) for (let i = 0; i < b.length; i++) high[(b[i] & ABS_MASK) >>> 16]++;
  let below = 0;
  let bin = 0;
  while (below + high[bin] < k) below += high[bin++];
  const low = new Float64Array(LOW_BINS);
  for (const b of bits) {
    for (let i = 0; i < b.length; i++) {
      const m = b[i] & ABS_MASK;
      if (m >>> 16 === bin) low[m & 0xffff]++;
    }
  }
  let sub = 0;
  while (below + low[sub] < k) below += low[sub++];
  return { threshold: (bin << 16) | sub, below };
}

export function countZeros(w: Float32Array): number {
  let zeros = 0;
  for (let i = 0; i < w.length; i++) if (w[i] === 0) zeros++;
  return zeros;
}

/**
 * N:M sparsity in place: for each output channel, every group of `m` consecutive weights along k
 * keeps its `n` largest |w| (ties: the lower k stays) and the rest become 0. When k is not a
 * multiple of m, the last group has r < m weights: it is treated as padded with zeros to m (as a
 * sparse kernel pads K) and keeps its min(n, r) largest, so the padded group is still n:m.
 */
export function zeroNM(w: Float32Array, layout: ReductionLayout, n: number, m: number): void {
  // The group's positions ordered by |w|, largest first (insertion sort: groups are small).
  const order = new Int32Array(m);
  const mag = new Float32Array(m);
  const group = (o: number, g: number) => {
    const r = Math.min(m, layout.k - g);
    if (r <= n) return;
    for (let j = 0; j < r; j++) {
      const at = o * layout.outStride + (g + j) * layout.kStride;
      const a = Math.abs(w[at]);
      let t = j;
      // Strictly greater moves up, so equal magnitudes keep the lower k first.
      for (; t > 0 && a > mag[t - 1]; t--) {
        mag[t] = mag[t - 1];
        order[t] = order[t - 1];
      }
      mag[t] = a;
      order[t] = at;
    }
    for (let j = n; j < r; j++) w[order[j]] = 0;
  };
  // Walk in memory order: when k is the slow axis ([K, N] MatMul weights) all outputs of a row
  // block go first, otherwise ([N, K] rows) each output's groups go first.
  if (layout.kStride > layout.outStride) {
    for (let g = 0; g < layout.k; g += m) for (let o = 0; o < layout.outputs; o++) group(o, g);
  } else {
    for (let o = 0; o < layout.outputs; o++) for (let g = 0; g < layout.k; g += m) group(o, g);
  }
}
