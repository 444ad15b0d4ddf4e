/**
 * Block-wise 4-bit quantization of a [K, N] weight in the layout of onnxruntime's com.microsoft
 * MatMulNBits (bits=4): each output column n is cut along K into blocks of `blockSize` values;
 * every block has one float scale and one 4-bit zero point, and dequantizes as (q - zp) * scale.
 */

export interface Int4Blocks {
  /** B input: uint8 [N, blocksPerColumn, blockSize / 2]; value j of a block sits in byte j >> 1, low nibble first. */
  packed: Uint8Array;
  /** scales input: float32 [N * blocksPerColumn], column-major over blocks (column n's blocks are contiguous). */
  scales: Float32Array;
  /** zero_points input: uint8 [N * ceil(blocksPerColumn / 2)], two blocks per byte, low nibble first. Absent when symmetric. */
  zeroPoints?: Uint8Array;
  blocksPerColumn: number;
}

/** The zero point onnxruntime assumes for 4-bit blocks when the zero_points input is absent. */
export const INT4_DEFAULT_ZERO_POINT = 8;

/**
 * Quantizes a row-major float32 weight [K, N]. Symmetric: scale = max|w| / 7, zero point 8 (codes
 * 1..15, so +max and -max both map exactly). Asymmetric: the block's [min, max] range (widened to
 * hold 0, so that 0 stays exact) spread over codes 0..15. When K is not a multiple of blockSize,
 * the last block is padded with the zero point; onnxruntime reads only the first K values.
 */
export function quantizeInt4Blocks(weight: Float32Array, k: number, n: number, blockSize: number, symmetric: boolean): Int4Blocks {
  const blocksPerColumn = Math.ceil(k / blockSize);
  const blobBytes = blockSize / 2;
  const packed = new Uint8Array(n * blocksPerColumn * blobBytes);
  const scales = new Float32Array(n * blocksPerColumn);
  const zpBytesPerColumn = Math.ceil(blocksPerColumn / 2);
  const zeroPoints = symmetric ? undefined : new Uint8Array(n * zpBytesPerColumn);
  for (let col = 0; col < n; col++) {
    for (let b = 0; b < blocksPerColumn; b++) {
      const start = b * blockSize;
      const end = Math.min(start + blockSize, k);
      let lo = 0;
      let hi = 0;
      for (let r = start; r < end; r++) {
        const v = weight[r * n + col];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      let scale: number;
      let zp: number;
      if (symmetric) {
        scale = Math.max(hi, -lo) / 7;
        zp = INT4_DEFAULT_ZERO_POINT;
      } else {
        scale = (hi - lo) / 15;
        zp = scale === 0 ? 0 : Math.min(15, Math.max(0, Math.round(-lo / scale)));
      }
      // An all-zero block: any scale reproduces it; 1 keeps the division below finite.
      if (scale === 0) scale = 1;
      // Quantize against the float32 scale that is stored, so dequantization matches exactly.
      const stored = Math.fround(scale);
      const blockIndex = col * blocksPerColumn + b;
      scales[blockIndex] = stored;
      if (zeroPoints) zeroPoints[col * zpBytesPerColumn + (b >> 1)] |= zp << ((b & 1) * 4);
      const base = blockIndex * blobBytes;
      for (let j = 0; j < blockSize; j++) {
        const r = start + j;
        const q = r < end ? Math.min(15, Math.max(0, Math.round(weight[r * n + col] / stored) + zp)) : zp;
        packed[base + (j >> 1)] |= q << ((j & 1) * 4);
      }
    }
  }
  return { packed, scales, zeroPoints, blocksPerColumn };
}
