/**
 * Symmetric int8 quantization of a 2-D float weight laid out [in, out] (MatMul's B), the way
 * onnxruntime's dynamic quantizer does it: zero point 0, values in [-127, 127] (the symmetric
 * range leaves -128 unused so that w and -w round to mirror images).
 */
export interface QuantizedWeight {
  /** Row-major [inDim, outDim] int8 values. */
  values: Int8Array;
  /** One scale per output column (per-channel) or a single scale (per-tensor). */
  scales: Float32Array;
}

const QMAX = 127;

/** The [in, out] copy of a weight stored [out, in] (Gemm with transB=1). */
export function transposeWeight(w: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c];
  return t;
}

/**
 * Quantizes an [inDim, outDim] weight; per-channel means one scale for each of the outDim columns.
 * `qmax` narrows the symmetric range (onnxruntime's reduce_range uses 64: 7-bit weights).
 */
export function quantizeWeight(w: Float32Array, inDim: number, outDim: number, perChannel: boolean, qmax = QMAX): QuantizedWeight {
  const scales = new Float32Array(perChannel ? outDim : 1);
  for (let i = 0; i < inDim; i++) {
    for (let j = 0; j < outDim; j++) {
      const a = Math.abs(w[i * outDim + j]);
      const k = perChannel ? j : 0;
      if (a > scales[k]) scales[k] = a;
    }
  }
  // An all-zero column gets scale 1 so dequantization stays exact (0 · 1) instead of dividing by 0.
  for (let k = 0; k < scales.length; k++) scales[k] = scales[k] > 0 ? scales[k] / qmax : 1;
  const values = new Int8Array(w.length);
  for (let i = 0; i < inDim; i++) {
    for (let j = 0; j < outDim; j++) {
      const q = Math.round(w[i * outDim + j] / scales[perChannel ? j : 0]);
      values[i * outDim + j] = Math.max(-qmax, Math.min(qmax, q));
    }
  }
  return { values, scales };
}
