import * as tf from '@tensorflow/tfjs';
import type { TfParams } from './tf-forward';
import type { Weights } from './weights';

/** Weights → trainable tfjs variables (copies; the Weights stay untouched). Dispose them when done. */
export function toVariables(weights: Weights): Record<string, tf.Variable> {
  // Unnamed: tfjs variable names are global, and two models may share parameter names.
  const out: Record<string, tf.Variable> = {};
  for (const [name, w] of Object.entries(weights)) out[name] = tf.variable(tf.tensor(w.data, w.dims, 'float32'), true);
  return out;
}

/** tfjs tensors → Weights (reads them back from the backend). */
export async function fromTensors(params: TfParams): Promise<Weights> {
  const out: Weights = {};
  for (const [name, t] of Object.entries(params)) out[name] = { dims: [...t.shape], data: (await t.data()) as Float32Array };
  return out;
}
