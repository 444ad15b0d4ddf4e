import type { TensorData } from '../tensor-data';
import { MmkitError } from '../errors';
import { halfToFloat } from '../onnx/dtype';

export interface Logits {
  /** Row-major [items, classes]. */
  data: Float32Array;
  classes: number;
}

/**
 * A model output as float32 rows, one per item: [N, ...] flattens to [N, prod(rest)], so
 * [N, C] and [N, 1, C] outputs both score as C classes. Float16/float64 outputs are converted.
 */
export function logitsOf(t: TensorData, name: string, items: number): Logits {
  if (t.dims[0] !== items || t.dims.length < 2) {
    throw new MmkitError('SHAPE_MISMATCH', `Output '${name}' has shape [${t.dims.join(', ')}], expected [${items}, classes] for a batch of ${items} items.`, {
      tensor: name,
      hint: 'Evaluate on an output with one row of scores per item (choose it with outputName).',
    });
  }
  return { data: floatData(t, name), classes: t.data.length / items };
}

/** A float tensor's values as float32 (float16 and float64 converted; float32 as is, no copy). */
export function floatData(t: TensorData, name: string): Float32Array {
  switch (t.dtype) {
    case 'float32':
      return t.data as Float32Array;
    case 'float16':
      return Float32Array.from(t.data as Uint16Array, halfToFloat);
    case 'float64':
      return Float32Array.from(t.data as Float64Array);
    default:
      throw new MmkitError('DTYPE_MISMATCH', `Tensor '${name}' is ${t.dtype}; comparing outputs needs float values.`, {
        tensor: name,
        hint: 'Choose a float output (outputName) or float tensors.',
      });
  }
}
