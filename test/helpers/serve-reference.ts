/**
 * What the served answers are compared with: the same model run directly in onnxruntime, on real
 * MNIST test digits; and a tiny FP16 model for the half-precision round trip.
 */
import { mnist } from '../../sdk/data';
import type { TensorData } from '../../sdk/tensor-data';
import { ModelBuilder, writeModel } from '../../sdk/onnx';
import { createSession } from '../../sdk/runtime';

/**
 * Served and direct logits may differ by float rounding: the server may run the digits in a
 * batch with other requests, and its onnxruntime uses other thread counts.
 */
export const LOGITS_TOLERANCE = 1e-4;

/** The first `n` MNIST test digits as one float32 [n, 1, 28, 28] tensor. */
export async function mnistDigits(n: number): Promise<TensorData> {
  for await (const batch of mnist({ split: 'test', batchSize: n }).take(n)) return batch.inputs as TensorData;
  throw new Error('mnist gave no batch');
}

/** Runs `model` directly in onnxruntime. */
export async function directRun(model: string, feeds: Record<string, TensorData>): Promise<Record<string, TensorData>> {
  const session = await createSession(model);
  try {
    return await session.run(feeds);
  } finally {
    await session.dispose();
  }
}

/** Tensor values and shape, as mmkit and onnxruntime both hold them. */
type Values = { data: ArrayLike<number | bigint>; dims: readonly number[] };

/** The largest absolute difference between two tensors' values (Infinity when their shapes differ). */
export function maxAbsDiff(a: Values, b: Values): number {
  if (a.dims.join(',') !== b.dims.join(',') || a.data.length !== b.data.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.data.length; i++) max = Math.max(max, Math.abs(Number(a.data[i]) - Number(b.data[i])));
  return max;
}

/** half [N, 4] (FP16) → Mul by [0.5, 2, -3, 1.25] → doubled [N, 4] (FP16): written to `file`. */
export async function writeHalfModel(file: string): Promise<void> {
  const b = new ModelBuilder({ name: 'half', opset: 17 });
  const x = b.input('half', 'float16', ['N', 4]);
  const scale = b.constant('float16', [4], new Uint16Array([0x3800, 0x4000, 0xc200, 0x3d00]));
  b.node('Mul', [x, scale], {}, { outputs: ['scaled'] });
  b.output('scaled', 'float16', ['N', 4]);
  await writeModel(b.build(), file);
}
