/**
 * sdk/linalg against matrices whose decomposition is known by construction (A = U·diag(σ)·Vᵀ
 * with orthonormal U, V), and the randomized SVD against the exact one on low-rank + noise
 * matrices: singular values, reconstruction error against the optimal (Eckart–Young) error,
 * orthogonality, seeding.
 */
import { describe, expect, it } from 'vitest';
import { isMmkitError } from '../sdk';
import { mulABt, orthonormalizeRows, randomizedSvd, svd, symmetricEigen, transpose, type Svd } from '../sdk/linalg';
import { seededFloats } from './helpers/runtime-models';

/** `count` orthonormal vectors of length `length`, as rows. */
function orthonormalRows(count: number, length: number, seed: number): Float64Array {
  const a = Float64Array.from(seededFloats(count * length, seed));
  orthonormalizeRows(a, count, length);
  return a;
}

/** m×n matrix U·diag(σ)·Vᵀ (+ uniform noise of the given size), row-major. */
function withSpectrum(m: number, n: number, sigma: number[], seed: number, noise = 0): Float64Array {
  const r = sigma.length;
  const ut = orthonormalRows(r, m, seed);
  const vt = orthonormalRows(r, n, seed + 1);
  for (let i = 0; i < r; i++) for (let j = 0; j < n; j++) vt[i * n + j] *= sigma[i];
  const a = mulABt(transpose(ut, r, m), m, r, transpose(vt, r, n), n);
  if (noise) {
    const e = seededFloats(m * n, seed + 2, noise);
    for (let i = 0; i < a.length; i++) a[i] += e[i];
  }
  return a;
}

/** ‖A − U·diag(s)·Vᵀ‖_F using the first k triplets. */
function reconstructionError(a: ArrayLike<number>, f: Svd, k = f.rank): number {
  const us = new Float64Array(f.m * k);
  for (let i = 0; i < f.m; i++) for (let j = 0; j < k; j++) us[i * k + j] = f.u[i * f.rank + j] * f.s[j];
  const approx = mulABt(us, f.m, k, transpose(f.vt.subarray(0, k * f.n), k, f.n), f.n);
  let e = 0;
  for (let i = 0; i < approx.length; i++) e += (a[i] - approx[i]) ** 2;
  return Math.sqrt(e);
}

/** max |XᵀX − I| for the k columns of the rows×k matrix x (`asRows`: x holds the k vectors as rows of length `rows`). */
function orthogonalityError(x: Float64Array, rows: number, k: number, asRows = false): number {
  const cols = asRows ? x : transpose(x, rows, k);
  const g = mulABt(cols, k, rows, cols, k);
  let worst = 0;
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) worst = Math.max(worst, Math.abs(g[i * k + j] - (i === j ? 1 : 0)));
  return worst;
}

describe('symmetricEigen', () => {
  it('diagonalizes a random symmetric 60×60 matrix: A·v = λ·v, orthonormal vectors, largest first', () => {
    const n = 60;
    const r = seededFloats(n * n, 11);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = r[i * n + j] + r[j * n + i];
    const { values, vectors } = symmetricEigen(a, n);
    const av = mulABt(vectors, n, n, a, n); // row i: (A·vᵢ)ᵀ
    let residual = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) residual = Math.max(residual, Math.abs(av[i * n + j] - values[i] * vectors[i * n + j]));
    expect(residual).toBeLessThan(1e-12);
    expect(orthogonalityError(vectors, n, n, true)).toBeLessThan(1e-13);
    for (let i = 1; i < n; i++) expect(values[i]).toBeLessThanOrEqual(values[i - 1]);
    let trace = 0;
    for (let i = 0; i < n; i++) trace += a[i * n + i];
    expect(values.reduce((s, v) => s + v, 0)).toBeCloseTo(trace, 10);
  });

  it('handles repeated eigenvalues and an already diagonal matrix', () => {
    const n = 5;
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) a[i * n + i] = i < 3 ? 2 : -1;
    const { values, vectors } = symmetricEigen(a, n);
    expect([...values]).toEqual([2, 2, 2, -1, -1]);
    expect(orthogonalityError(vectors, n, n, true)).toBeLessThan(1e-15);
  });
});

describe('exact svd', () => {
  const sigma = Array.from({ length: 12 }, (_, i) => 10 * 0.5 ** i); // 10 … 0.0049

  it.each([
    [40, 25],
    [25, 40],
  ])('recovers the singular values of a %i×%i matrix of known spectrum, with orthonormal U and V', (m, n) => {
    const a = withSpectrum(m, n, sigma, 3);
    const f = svd(a, m, n);
    expect(f.rank).toBe(Math.min(m, n));
    sigma.forEach((s, i) => expect(Math.abs(f.s[i] - s) / s).toBeLessThan(1e-9));
    for (let i = sigma.length; i < f.rank; i++) expect(f.s[i]).toBeLessThan(1e-6);
    expect(reconstructionError(a, f) / Math.sqrt(sigma.reduce((t, s) => t + s * s, 0))).toBeLessThan(1e-9);
    // The leading 12 directions are defined; the null space's are arbitrary, so only they are checked.
    expect(orthogonalityError(pick(f.u, m, f.rank, 12), m, 12)).toBeLessThan(1e-9);
    expect(orthogonalityError(f.vt.slice(0, 12 * n), n, 12, true)).toBeLessThan(1e-9);
  });

  it('truncated to k keeps the k largest triplets: the error is the Eckart–Young optimum', () => {
    const a = withSpectrum(30, 50, sigma, 5);
    const f = svd(Float32Array.from(a), 30, 50, 4);
    expect(f.rank).toBe(4);
    expect(f.u).toHaveLength(30 * 4);
    expect(f.vt).toHaveLength(4 * 50);
    const optimal = Math.sqrt(sigma.slice(4).reduce((t, s) => t + s * s, 0));
    // float32 input: rounding of the stored values (~1e-7 relative) sets the floor.
    expect(Math.abs(reconstructionError(a, f) - optimal) / optimal).toBeLessThan(1e-4);
  });

  it('refuses a value count that does not match the shape', () => {
    let caught: unknown;
    try {
      svd(new Float64Array(10), 3, 4);
    } catch (e) {
      caught = e;
    }
    expect(isMmkitError(caught, 'SHAPE_MISMATCH')).toBe(true);
  });
});

/** The first k columns of an m×cols row-major matrix. */
function pick(x: Float64Array, m: number, cols: number, k: number): Float64Array {
  const out = new Float64Array(m * k);
  for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) out[i * k + j] = x[i * cols + j];
  return out;
}

describe('randomizedSvd', () => {
  // Rank 20 with σ from 20 down to 1, plus uniform noise: a weight-like "low rank + tail" matrix.
  const m = 300;
  const n = 500;
  const k = 20;
  const sigma = Array.from({ length: k }, (_, i) => 20 - i);
  const a = withSpectrum(m, n, sigma, 21, 0.01);
  const exact = svd(a, m, n);

  it('matches the exact SVD on low-rank + noise: singular values, near-optimal error, orthonormal factors', () => {
    const f = randomizedSvd(Float32Array.from(a), m, n, k, { seed: 1 });
    expect(f.rank).toBe(k);
    let worstRelative = 0;
    for (let i = 0; i < k; i++) worstRelative = Math.max(worstRelative, Math.abs(f.s[i] - exact.s[i]) / exact.s[i]);
    const optimal = reconstructionError(a, exact, k);
    const got = reconstructionError(a, f);
    console.log(`randomized k=${k} on ${m}×${n}: worst σ relative error ${worstRelative.toExponential(2)}, error ${got.toFixed(5)} vs optimal ${optimal.toFixed(5)}`);
    expect(worstRelative).toBeLessThan(1e-6);
    expect(got).toBeLessThan(optimal * 1.001);
    expect(orthogonalityError(f.u, m, k)).toBeLessThan(1e-10);
    expect(orthogonalityError(f.vt, n, k, true)).toBeLessThan(1e-10);
  });

  it('power iterations sharpen a slowly decaying spectrum', () => {
    const slow = withSpectrum(200, 240, Array.from({ length: 200 }, (_, i) => 1 / Math.sqrt(i + 1)), 31);
    const best = svd(slow, 200, 240);
    const kk = 10;
    const optimal = reconstructionError(slow, best, kk);
    const errors = [0, 1, 2].map((q) => reconstructionError(slow, randomizedSvd(slow, 200, 240, kk, { powerIterations: q, seed: 2 })) / optimal);
    console.log(`slow decay, k=${kk}: error / optimal with 0, 1, 2 power iterations: ${errors.map((e) => e.toFixed(4)).join(', ')}`);
    expect(errors[1]).toBeLessThan(errors[0]);
    expect(errors[2]).toBeLessThanOrEqual(errors[1] + 1e-9);
    expect(errors[2]).toBeLessThan(1.02);
  });

  it('is reproducible by seed, and exact when the sketch covers the smaller side', () => {
    const f1 = randomizedSvd(a, m, n, 5, { seed: 7 });
    const f2 = randomizedSvd(a, m, n, 5, { seed: 7 });
    expect(f2.u).toEqual(f1.u);
    expect(f2.vt).toEqual(f1.vt);
    const covered = randomizedSvd(a.subarray(0, 30 * n), 30, n, 25, { oversample: 10 });
    const direct = svd(a.subarray(0, 30 * n), 30, n, 25);
    expect(covered.s).toEqual(direct.s);
  });

  it('gives zero (not NaN) triplets past the rank of a rank-deficient matrix', () => {
    const low = withSpectrum(120, 90, [3, 2, 1], 41);
    const f = randomizedSvd(low, 120, 90, 8, { seed: 3 });
    expect([...f.s.slice(0, 3)].map((s) => +s.toFixed(9))).toEqual([3, 2, 1]);
    for (let i = 3; i < 8; i++) expect(f.s[i]).toBeLessThan(1e-6);
    expect(f.u.every(Number.isFinite) && f.vt.every(Number.isFinite)).toBe(true);
    expect(reconstructionError(low, f)).toBeLessThan(1e-9);
  });
});
