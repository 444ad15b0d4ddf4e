import { dot } from './matmul';

/**
 * Makes the `rows` row vectors (length `cols`) of `a` orthonormal in place, in order, by modified
 * Gram–Schmidt run twice per vector ("twice is enough": one pass loses orthogonality in proportion
 * to the condition number, which power iterations make huge). A row that lies in the span of the
 * earlier ones (numerically) becomes zero, so a rank-deficient sketch yields zero directions
 * rather than amplified rounding noise.
 */
export function orthonormalizeRows(a: Float64Array, rows: number, cols: number): void {
  for (let i = 0; i < rows; i++) {
    const ri = i * cols;
    const before = Math.sqrt(dot(a, ri, a, ri, cols));
    for (let pass = 0; pass < 2; pass++) {
      for (let j = 0; j < i; j++) {
        const rj = j * cols;
        const d = dot(a, ri, a, rj, cols);
        if (d !== 0) for (let p = 0; p < cols; p++) a[ri + p] -= d * a[rj + p];
      }
    }
    const norm = Math.sqrt(dot(a, ri, a, ri, cols));
    const scale = norm > 1e-12 * before && norm > 0 ? 1 / norm : 0;
    for (let p = 0; p < cols; p++) a[ri + p] *= scale;
  }
}
