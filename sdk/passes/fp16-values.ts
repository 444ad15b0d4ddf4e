/**
 * float32 → float16 conversion of tensor data, with the values float16 cannot hold counted:
 * |x| > 65504 (the largest finite half) is clamped to ±65504 instead of becoming ±Infinity, and
 * nonzero |x| < 2^-24 (below the smallest subnormal half) is flushed to 0. Infinities and NaN
 * stay what they are. Everything else rounds to the nearest half, ties to even.
 */

export const FLOAT16_MAX = 65504;
export const FLOAT16_MIN_SUBNORMAL = 2 ** -24;

export interface HalfConversion {
  /** IEEE binary16 bits, as ONNX stores float16. */
  bits: Uint16Array;
  clamped: number;
  flushed: number;
  /** Largest finite |x| of the input (0 for an empty tensor). */
  maxAbs: number;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The binary16 bits nearest to a float32 value (ties to even; out-of-range values become ±Infinity). */
export function halfBits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  // Normal halves keep 10 of the 23 mantissa bits; subnormal ones shift the implicit 1 in as well.
  const shift = e > 0 ? 13 : 14 - e;
  if (shift > 24) return sign;
  const full = e > 0 ? mant : mant | 0x800000;
  let half = (e > 0 ? e << 10 : 0) | (full >>> shift);
  const rest = full & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  // A carry out of the mantissa correctly bumps the exponent (up to Infinity).
  if (rest > halfway || (rest === halfway && (half & 1) === 1)) half++;
  return sign | half;
}

/** Converts a float32 tensor's values to float16 bits, clamping and flushing what does not fit. */
export function toHalf(values: Float32Array): HalfConversion {
  const bits = new Uint16Array(values.length);
  let clamped = 0;
  let flushed = 0;
  let maxAbs = 0;
  for (let i = 0; i < values.length; i++) {
    let x = values[i];
    const a = Math.abs(x);
    if (a !== Infinity && a > maxAbs) maxAbs = a;
    if (a > FLOAT16_MAX && a !== Infinity) {
      x = Math.sign(x) * FLOAT16_MAX;
      clamped++;
    } else if (a > 0 && a < FLOAT16_MIN_SUBNORMAL) {
      x = 0;
      flushed++;
    }
    bits[i] = halfBits(x);
  }
  return { bits, clamped, flushed, maxAbs };
}
