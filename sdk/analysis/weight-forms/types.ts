/** What a quantized weight dequantizes to, and the grid it was stored on. */

/** The quantization grid of a weight: one scale and zero point per group of values. */
export interface QuantGroups {
  /** Smallest and largest code of the stored type ([-128, 127] for int8, [0, 15] for 4-bit MatMulNBits). */
  codeMin: number;
  codeMax: number;
  scales: Float64Array;
  zeroPoints: Float64Array;
  /** The output channel each group belongs to; -1 when a group spans all channels (per-tensor). */
  channels: Int32Array;
}

/** 'float' for float16/bfloat16 weights, which have no uniform grid. */
export type Granularity = 'per-tensor' | 'per-channel' | 'block' | 'float';

export interface EffectiveWeight {
  /** The candidate node that reads the quantized weight. */
  node: string;
  /** Its graph form: 'DynamicQuantizeMatMul', 'MatMulInteger', 'MatMulNBits', 'DequantizeLinear→MatMul', ... */
  form: string;
  /** Values the layer produces in the candidate (after a fused or following bias Add), to find the same layer in the reference. */
  outputs: string[];
  /** The stored quantized initializer. */
  stored: string;
  /** Stored element type: 'int8', 'uint8', 'uint4' (MatMulNBits), ... */
  dtype: string;
  bits: number;
  granularity: Granularity;
  blockSize?: number;
  /** Dequantized values, [in, out] for linears (MatMul's B layout), the stored [out, in/group, ...kernel] for Conv. */
  values: Float32Array;
  dims: number[];
  /** Which axis of `dims` indexes output channels (1 for linears, 0 for Conv and embedding rows). */
  channelAxis: number;
  /** The integer grid; null for float16/bfloat16 weights. */
  groups: QuantGroups | null;
}

/** A quantized weight whose dequantized value could not be recovered, and why. */
export interface UnrecoveredWeight {
  node: string;
  reason: string;
}

/** Short description of a weight's quantization: "int8 per-channel", "uint4 block 32". */
export function schemeOf(w: Pick<EffectiveWeight, 'dtype' | 'granularity' | 'blockSize'>): string {
  if (w.granularity === 'float') return w.dtype;
  return `${w.dtype} ${w.granularity === 'block' ? `block ${w.blockSize}` : w.granularity}`;
}

/** One scale and zero point per output channel (per-channel), or one for all (per-tensor). */
export function channelGroups(scales: Float32Array, zeroPoints: Float64Array, perChannel: boolean): Omit<QuantGroups, 'codeMin' | 'codeMax'> {
  const count = perChannel ? scales.length : 1;
  return {
    scales: Float64Array.from(scales.subarray(0, count)),
    zeroPoints: Float64Array.from({ length: count }, (_, g) => zeroPoints[zeroPoints.length > 1 ? g : 0] ?? 0),
    channels: Int32Array.from({ length: count }, (_, g) => (perChannel ? g : -1)),
  };
}
