/**
 * Eigen-decomposition of a real symmetric matrix: Householder reduction to tridiagonal form, then
 * implicit QL iterations with Wilkinson-like shifts on the tridiagonal matrix (O(n³) with a small
 * constant; a cyclic Jacobi solver needs several n³ sweeps, ~30× slower at the n ≈ 200 the
 * randomized SVD asks for). Eigenvectors are kept as rows, so every rotation touches two
 * contiguous rows.
 */
import { MmkitError } from '../errors';

export interface SymmetricEigen {
  /** Eigenvalues, largest first. */
  values: Float64Array;
  /** Row i (n values) is the unit eigenvector of values[i]. */
  vectors: Float64Array;
}

const EPS = 2 ** -52;
const MAX_QL_ITERATIONS = 60;

interface Tridiagonal {
  /** Diagonal (n). */
  d: Float64Array;
  /** e[i] couples i and i+1; e[n-1] = 0. */
  e: Float64Array;
  /** Qᵀ, with A = Q·T·Qᵀ (row i of Qᵀ is column i of Q). */
  qt: Float64Array;
}

function tridiagonalize(input: Float64Array, n: number): Tridiagonal {
  const a = Float64Array.from(input);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  const reflectors: { v: Float64Array; beta: number }[] = [];
  for (let k = 0; k < n - 2; k++) {
    const len = n - k - 1;
    const v = new Float64Array(len);
    let alpha2 = 0;
    for (let i = 0; i < len; i++) {
      v[i] = a[(k + 1 + i) * n + k];
      alpha2 += v[i] * v[i];
    }
    const x0 = v[0];
    if (alpha2 === 0) {
      reflectors.push({ v, beta: 0 });
      continue;
    }
    // H = I − β·v·vᵀ maps the column below the diagonal onto s·e₁ (s opposite to x₀ avoids cancellation).
    const s = x0 >= 0 ? -Math.sqrt(alpha2) : Math.sqrt(alpha2);
    v[0] = x0 - s;
    const beta = 2 / (2 * alpha2 - 2 * s * x0);
    // A₂₂ ← H·A₂₂·H = A₂₂ − v·wᵀ − w·vᵀ with p = β·A₂₂·v, w = p − (β·pᵀv/2)·v.
    const p = new Float64Array(len);
    for (let i = 0; i < len; i++) {
      const row = (k + 1 + i) * n + k + 1;
      let sum = 0;
      for (let j = 0; j < len; j++) sum += a[row + j] * v[j];
      p[i] = beta * sum;
    }
    let pv = 0;
    for (let i = 0; i < len; i++) pv += p[i] * v[i];
    const half = (beta * pv) / 2;
    for (let i = 0; i < len; i++) p[i] -= half * v[i];
    for (let i = 0; i < len; i++) {
      const row = (k + 1 + i) * n + k + 1;
      const vi = v[i];
      const wi = p[i];
      for (let j = 0; j < len; j++) a[row + j] -= vi * p[j] + wi * v[j];
    }
    a[(k + 1) * n + k] = s;
    reflectors.push({ v, beta });
  }
  for (let i = 0; i < n; i++) d[i] = a[i * n + i];
  for (let i = 0; i < n - 1; i++) e[i] = a[(i + 1) * n + i];
  // Q = H₀·H₁·…, built from the right end (each H_k only touches rows k+1.. of what follows it).
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  const u = new Float64Array(n);
  for (let k = reflectors.length - 1; k >= 0; k--) {
    const { v, beta } = reflectors[k];
    if (beta === 0) continue;
    u.fill(0);
    for (let i = 0; i < v.length; i++) {
      const row = (k + 1 + i) * n;
      const vi = v[i];
      for (let c = 0; c < n; c++) u[c] += vi * q[row + c];
    }
    for (let i = 0; i < v.length; i++) {
      const row = (k + 1 + i) * n;
      const f = beta * v[i];
      for (let c = 0; c < n; c++) q[row + c] -= f * u[c];
    }
  }
  // Transposed once so that the QL rotations below work on rows.
  const qt = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) qt[j * n + i] = q[i * n + j];
  return { d, e, qt };
}

const withSign = (magnitude: number, sign: number) => (sign >= 0 ? Math.abs(magnitude) : -Math.abs(magnitude));

/** Diagonalizes the tridiagonal (d, e) in place, applying every rotation to the rows of zt. */
function implicitQl(d: Float64Array, e: Float64Array, zt: Float64Array, n: number): void {
  for (let l = 0; l < n; l++) {
    for (let iteration = 0; ; iteration++) {
      let m = l;
      for (; m < n - 1; m++) {
        const dd = Math.abs(d[m]) + Math.abs(d[m + 1]);
        if (Math.abs(e[m]) <= EPS * dd) break;
      }
      if (m === l) break;
      if (iteration === MAX_QL_ITERATIONS) {
        throw new MmkitError('UNSUPPORTED', `The symmetric eigen-solver did not converge after ${MAX_QL_ITERATIONS} iterations on eigenvalue ${l} of ${n}.`, {
          hint: 'The matrix holds NaN or infinite values, or is badly scaled; check the weight for non-finite values.',
        });
      }
      let g = (d[l + 1] - d[l]) / (2 * e[l]);
      let r = Math.sqrt(g * g + 1);
      g = d[m] - d[l] + e[l] / (g + withSign(r, g));
      let s = 1;
      let c = 1;
      let p = 0;
      let underflow = false;
      for (let i = m - 1; i >= l; i--) {
        const f = s * e[i];
        const b = c * e[i];
        r = Math.sqrt(f * f + g * g);
        e[i + 1] = r;
        if (r === 0) {
          d[i + 1] -= p;
          e[m] = 0;
          underflow = true;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1] - p;
        r = (d[i] - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
        const zi = i * n;
        const zj = zi + n;
        for (let k = 0; k < n; k++) {
          const t = zt[zj + k];
          zt[zj + k] = s * zt[zi + k] + c * t;
          zt[zi + k] = c * zt[zi + k] - s * t;
        }
      }
      if (underflow) continue;
      d[l] -= p;
      e[l] = g;
      e[m] = 0;
    }
  }
}

/** Eigenvalues (largest first) and unit eigenvectors of the symmetric n×n row-major matrix `a` (only read). */
export function symmetricEigen(a: Float64Array, n: number): SymmetricEigen {
  if (n === 0) return { values: new Float64Array(0), vectors: new Float64Array(0) };
  if (n === 1) return { values: Float64Array.of(a[0]), vectors: Float64Array.of(1) };
  const { d, e, qt } = tridiagonalize(a, n);
  implicitQl(d, e, qt, n);
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[y] - d[x]);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((from, to) => {
    values[to] = d[from];
    vectors.set(qt.subarray(from * n, from * n + n), to * n);
  });
  return { values, vectors };
}
