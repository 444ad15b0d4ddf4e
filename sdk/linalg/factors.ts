import type { Svd } from './svd';

/**
 * The rank-r factors of a truncated SVD with the singular values split evenly, A ≈ L·R with
 * L = U·√Σ (m×r) and R = √Σ·Vᵀ (r×n), as float32: both factors then have the same scale, which
 * keeps float16 or int8 storage of either one as accurate as the other.
 */
export function balancedFactors(f: Svd, r: number): { left: Float32Array; right: Float32Array } {
  const left = new Float32Array(f.m * r);
  const right = new Float32Array(r * f.n);
  for (let j = 0; j < r; j++) {
    const root = Math.sqrt(f.s[j]);
    for (let i = 0; i < f.m; i++) left[i * r + j] = f.u[i * f.rank + j] * root;
    for (let c = 0; c < f.n; c++) right[j * f.n + c] = f.vt[j * f.n + c] * root;
  }
  return { left, right };
}

/** Σ_{i<r} s_i²: the squared Frobenius norm a rank-r truncation keeps. */
export function energyOf(s: Float64Array, r: number): number {
  let e = 0;
  for (let i = 0; i < r; i++) e += s[i] * s[i];
  return e;
}

/**
 * The smallest rank whose leading singular values keep `fraction` of `total` energy (Σ of all
 * squared singular values, i.e. ‖A‖²_F), or undefined when the given ones do not reach it.
 */
export function rankForEnergy(s: Float64Array, total: number, fraction: number): number | undefined {
  const want = fraction * total * (1 - 1e-12);
  let e = 0;
  for (let i = 0; i < s.length; i++) {
    e += s[i] * s[i];
    if (e >= want) return i + 1;
  }
  return want <= 0 ? 0 : undefined;
}
