/**
 * Singular value decompositions of row-major matrices: an exact one for small matrices, and the
 * randomized one of Halko, Martinsson & Tropp (2011) for the leading k singular triplets of big
 * ones: a Gaussian sketch with oversampling, power iterations re-orthonormalized at every step,
 * then the exact SVD of the small projected matrix.
 */
import { MmkitError } from '../errors';
import { mulberry32 } from '../random';
import { symmetricEigen } from './eigen';
import { mulABt, transpose, type RealArray } from './matmul';
import { orthonormalizeRows } from './orthonormalize';

/** A ≈ U·diag(s)·Vᵀ, truncated to `rank` triplets. */
export interface Svd {
  /** Rows and columns of the decomposed matrix. */
  m: number;
  n: number;
  rank: number;
  /** Singular values, largest first (rank). */
  s: Float64Array;
  /** Left singular vectors as columns: m×rank, row-major. */
  u: Float64Array;
  /** Right singular vectors as rows: rank×n, row-major. */
  vt: Float64Array;
}

export interface RandomizedSvdOptions {
  /** Extra sketch columns beyond k (default 10): the sketch then captures the top-k subspace far better. */
  oversample?: number;
  /** Power iterations (default 2): each sharpens a slowly decaying spectrum at the cost of two products with A. */
  powerIterations?: number;
  /** Seed of the Gaussian sketch (default 0): the same seed gives the same factors. */
  seed?: number;
}

function checkShape(a: RealArray, m: number, n: number): void {
  if (!(Number.isInteger(m) && Number.isInteger(n) && m > 0 && n > 0) || a.length !== m * n) {
    throw new MmkitError('SHAPE_MISMATCH', `SVD input has ${a.length} values, but ${m}×${n} was given.`, { hint: 'Pass the matrix row-major with its row and column counts.' });
  }
}

/**
 * Exact SVD of a "wide" matrix b (l×n, l ≤ n) through the eigen-decomposition of b·bᵀ (l×l):
 * b = Ũ·Σ·Vᵀ with Vᵀ = Σ⁻¹·Ũᵀ·b. Forming the Gram matrix squares the condition number; in float64
 * that still leaves singular values down to ~1e-7 of the largest accurate, far below what a
 * truncation for float32 weights keeps. Returns Ũ's columns as rows (k×l).
 */
function wideSvd(b: Float64Array, l: number, n: number, k: number): { ut: Float64Array; s: Float64Array; vt: Float64Array } {
  const { values, vectors } = symmetricEigen(mulABt(b, l, n, b, l), l);
  const ut = vectors.slice(0, k * l);
  const s = new Float64Array(k);
  for (let i = 0; i < k; i++) s[i] = Math.sqrt(Math.max(0, values[i]));
  const vt = mulABt(ut, k, l, transpose(b, l, n), n);
  for (let i = 0; i < k; i++) {
    // A zero singular value has no defined direction; its row stays zero (it contributes nothing).
    const inv = s[i] > 0 ? 1 / s[i] : 0;
    for (let j = 0; j < n; j++) vt[i * n + j] *= inv;
  }
  return { ut, s, vt };
}

/** The transpose's SVD turned into the matrix's own: (V·Σ·Uᵀ)ᵀ = U·Σ·Vᵀ. */
function transposed(t: Svd): Svd {
  return { m: t.n, n: t.m, rank: t.rank, s: t.s, u: transpose(t.vt, t.rank, t.n), vt: transpose(t.u, t.m, t.rank) };
}

/** Exact SVD of the m×n row-major matrix `a`, truncated to its leading `k` triplets (default min(m, n)). */
export function svd(a: RealArray, m: number, n: number, k = Math.min(m, n)): Svd {
  checkShape(a, m, n);
  if (m > n) return transposed(svd(transpose(a, m, n), n, m, k));
  const rank = Math.max(0, Math.min(k, m));
  const w = a instanceof Float64Array ? a : Float64Array.from(a);
  const { ut, s, vt } = wideSvd(w, m, n, rank);
  return { m, n, rank, s, u: transpose(ut, rank, m), vt };
}

/** l×n standard normal values from a seeded uniform source (Box–Muller). */
function gaussianMatrix(rows: number, cols: number, seed: number): Float64Array {
  const rand = mulberry32(seed);
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < out.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - rand()));
    const theta = 2 * Math.PI * rand();
    out[i] = r * Math.cos(theta);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(theta);
  }
  return out;
}

/**
 * The leading k singular triplets of the m×n row-major matrix `a`, randomized (exact when the
 * sketch would cover min(m, n) anyway). Cost ≈ (2 + 2·powerIterations)·m·n·(k + oversample)
 * multiply-adds. The bases are kept as rows (Qᵀ), so every product is a k-contiguous A·Bᵀ.
 */
export function randomizedSvd(a: RealArray, m: number, n: number, k: number, opts: RandomizedSvdOptions = {}): Svd {
  checkShape(a, m, n);
  const small = Math.min(m, n);
  const rank = Math.max(0, Math.min(k, small));
  const l = rank + (opts.oversample ?? 10);
  if (l >= small) return svd(a, m, n, rank);
  const w = a instanceof Float64Array ? a : Float64Array.from(a);
  const wt = transpose(w, m, n);
  // Qᵀ (l×m): rows span the range of A·Ω. Between power iterations a single Gram–Schmidt pass
  // keeps the bases well conditioned; the final Q, which A is projected on, gets two.
  const iterations = opts.powerIterations ?? 2;
  let qt = mulABt(gaussianMatrix(l, n, opts.seed ?? 0), l, n, w, m);
  orthonormalizeRows(qt, l, m, iterations === 0 ? 2 : 1);
  for (let it = 0; it < iterations; it++) {
    const zt = mulABt(qt, l, m, wt, n); // (Aᵀ·Q)ᵀ
    orthonormalizeRows(zt, l, n, 1);
    qt = mulABt(zt, l, n, w, m); // (A·Z)ᵀ
    orthonormalizeRows(qt, l, m, it === iterations - 1 ? 2 : 1);
  }
  const b = mulABt(qt, l, m, wt, n); // Qᵀ·A, l×n
  const { ut, s, vt } = wideSvd(b, l, n, rank);
  // U = Q·Ũ: Uᵀ (rank×m) = Ũᵀ·Qᵀ.
  const uT = mulABt(ut, rank, l, transpose(qt, l, m), m);
  return { m, n, rank, s, u: transpose(uT, rank, m), vt };
}
