/**
 * Dense products for the SVD routines, on row-major Float64Array matrices. Everything is written
 * as C = A·Bᵀ with both operands stored "k-contiguous" (rows of A and rows of B run along the
 * shared dimension): the inner loop is then a pair of sequential reads, and a 2×4 block of
 * accumulators stays in registers (measured on this 2-core CPU under load: ~1.1 G multiply-adds/s,
 * against ~0.7 for the i-k-j axpy form and ~0.8 for a 4×4 block, which spills).
 */

/** A row-major matrix of float64 or float32 values (a weight read straight from a model). */
export type RealArray = Float64Array | Float32Array;

/** C[m×n] = A[m×k] · B[n×k]ᵀ. */
export function mulABt(a: RealArray, m: number, k: number, b: RealArray, n: number): Float64Array {
  const c = new Float64Array(m * n);
  const mEven = m - (m % 2);
  const nQuad = n - (n % 4);
  for (let i = 0; i < mEven; i += 2) {
    const a0 = i * k;
    const a1 = a0 + k;
    for (let j = 0; j < nQuad; j += 4) {
      const b0 = j * k;
      const b1 = b0 + k;
      const b2 = b1 + k;
      const b3 = b2 + k;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      for (let p = 0; p < k; p++) {
        const x0 = a[a0 + p];
        const x1 = a[a1 + p];
        const y0 = b[b0 + p];
        const y1 = b[b1 + p];
        const y2 = b[b2 + p];
        const y3 = b[b3 + p];
        c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
        c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
      }
      const o = i * n + j;
      c[o] = c00; c[o + 1] = c01; c[o + 2] = c02; c[o + 3] = c03;
      c[o + n] = c10; c[o + n + 1] = c11; c[o + n + 2] = c12; c[o + n + 3] = c13;
    }
    for (let j = nQuad; j < n; j++) {
      c[i * n + j] = dot(a, a0, b, j * k, k);
      c[(i + 1) * n + j] = dot(a, a1, b, j * k, k);
    }
  }
  if (mEven < m) for (let j = 0; j < n; j++) c[mEven * n + j] = dot(a, mEven * k, b, j * k, k);
  return c;
}

/** Σ a[aOff + p]·b[bOff + p] for p < length. */
export function dot(a: RealArray, aOff: number, b: RealArray, bOff: number, length: number): number {
  let s0 = 0;
  let s1 = 0;
  const even = length - (length % 2);
  for (let p = 0; p < even; p += 2) {
    s0 += a[aOff + p] * b[bOff + p];
    s1 += a[aOff + p + 1] * b[bOff + p + 1];
  }
  if (even < length) s0 += a[aOff + even] * b[bOff + even];
  return s0 + s1;
}

/** The transpose of a rows×cols matrix, as float64 (blocked so both sides stay in cache). */
export function transpose(a: RealArray, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  const B = 32;
  for (let i0 = 0; i0 < rows; i0 += B) {
    const i1 = Math.min(rows, i0 + B);
    for (let j0 = 0; j0 < cols; j0 += B) {
      const j1 = Math.min(cols, j0 + B);
      for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) t[j * rows + i] = a[i * cols + j];
    }
  }
  return t;
}

/** Σ x² over all elements: the squared Frobenius norm. */
export function sumOfSquares(a: RealArray): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return s;
}
