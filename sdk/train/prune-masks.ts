/**
 * Pruning masks read back from a pruned model: a pruned weight is an exact 0, so the mask is where
 * the zeros are. Training (distillation, fine-tuning) multiplies by the keep mask after each update
 * to keep the pruned weights at 0.
 */
import { GraphView, dtypeOf, findConvs, findLinears, tensorArray, tensorDims, type OnnxModel, type TensorProto } from '../onnx';

/** 1 where the weight is exactly 0 (pruned), 0 where it is kept. */
export function zeroMask(weight: Float32Array): Uint8Array {
  const mask = new Uint8Array(weight.length);
  for (let i = 0; i < weight.length; i++) if (weight[i] === 0) mask[i] = 1;
  return mask;
}

/** 1 where the weight is kept, 0 where it is exactly 0: multiply a trained weight by it to re-apply the pruning. */
export function keepMask(weight: Float32Array): Float32Array {
  const mask = new Float32Array(weight.length);
  for (let i = 0; i < weight.length; i++) if (weight[i] !== 0) mask[i] = 1;
  return mask;
}

export interface WeightMask {
  /** The initializer's name. */
  weight: string;
  dims: number[];
  /** 1 where the weight is exactly 0 (see zeroMask). */
  zeros: Uint8Array;
  sparsity: number;
}

/**
 * The zero masks of the model's float32 MatMul/Gemm/Conv weights that have any zeros, by initializer
 * name (what prune.magnitude leaves behind).
 */
export function prunedWeightMasks(model: OnnxModel): Map<string, WeightMask> {
  const view = GraphView.of(model.proto);
  const masks = new Map<string, WeightMask>();
  const weights = [...findLinears(view), ...findConvs(view)].map((m) => m.weight);
  for (const name of new Set(weights)) {
    const t: TensorProto = view.initializer(name)!;
    if (dtypeOf(t.dataType) !== 'float32') continue;
    const zeros = zeroMask(tensorArray(t, model) as Float32Array);
    const count = zeros.reduce((n, z) => n + z, 0);
    if (count > 0) masks.set(name, { weight: name, dims: tensorDims(t), zeros, sparsity: count / zeros.length });
  }
  return masks;
}
