/**
 * float32 → float16 conversion of tensor data, with the values float16 cannot hold counted:
 * |x| > 65504 (the largest finite half) is clamped to ±65504 instead of becoming ±Infinity, and
 * nonzero |x| < 2^-24 (below the smallest subnormal half) is flushed to 0. Infinities and NaN
 * stay what they are. Everything else rounds to the nearest half, ties to even.
 */

import { halfBits } from '../../onnx';

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

/** Largest finite |x| of the values (0 for none; infinities and NaN are skipped). */
export function finiteMaxAbs(values: Float32Array): number {
  let maxAbs = 0;
  for (const x of values) {
    const a = Math.abs(x);
    if (a !== Infinity && a > maxAbs) maxAbs = a;
  }
  return maxAbs;
}

/** Converts a float32 tensor's values to float16 bits, clamping and flushing what does not fit. */
export function toHalf(values: Float32Array): HalfConversion {
  const bits = new Uint16Array(values.length);
  let clamped = 0;
  let flushed = 0;
  for (let i = 0; i < values.length; i++) {
    let x = values[i];
    const a = Math.abs(x);
    if (a > FLOAT16_MAX && a !== Infinity) {
      x = Math.sign(x) * FLOAT16_MAX;
      clamped++;
    } else if (a > 0 && a < FLOAT16_MIN_SUBNORMAL) {
      x = 0;
      flushed++;
    }
    bits[i] = halfBits(x);
  }
  return { bits, clamped, flushed, maxAbs: finiteMaxAbs(values) };
}
