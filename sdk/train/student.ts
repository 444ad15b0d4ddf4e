/**
 * The student of a recovery run: its spec and weights read from ONNX, the pruning masks that keep
 * its exact zeros at zero, and the trained weights written back into a copy of its graph.
 */
import * as tf from '@tensorflow/tfjs';
import { MmkitError } from '../errors';
import { derivedModel, editModel, makeTensor, type OnnxModel } from '../onnx';
import { paramDecls, weightsFromOnnx, type ModelSpec, type TfParams, type Weights } from '../models';
import { keepMask } from './prune-masks';
import { specFromOnnx } from './spec-from-onnx';

export interface Student {
  spec: ModelSpec;
  weights: Weights;
}

/** The spec and (copied) float32 weights of an ONNX model in buildOnnx's layout. */
export function studentFromOnnx(model: OnnxModel): Student {
  const spec = specFromOnnx(model);
  return { spec, weights: weightsFromOnnx(spec, model) };
}

/** Per weight that holds exact zeros: 1 where a value may train, 0 where pruning removed it. */
export type PruningMasks = Record<string, Float32Array>;

/**
 * Masks for the decayed (linear and patch-embedding) weights that contain exact zeros, as
 * magnitude or N:M pruning leaves them. A trained float weight is never exactly zero by chance.
 */
export function pruningMasks(spec: ModelSpec, weights: Weights): PruningMasks {
  const out: PruningMasks = {};
  for (const d of paramDecls(spec)) {
    if (!d.decay) continue;
    const w = weights[d.name].data;
    if (!w.includes(0)) continue;
    out[d.name] = keepMask(w);
  }
  return out;
}

/** Number of weights the masks hold at zero. */
export function maskedCount(masks: PruningMasks): number {
  let n = 0;
  for (const m of Object.values(masks)) for (const v of m) if (v === 0) n++;
  return n;
}

/** The masks as tfjs constants; dispose them when training ends. */
export function maskTensors(masks: PruningMasks, weights: Weights): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(masks).map(([name, m]) => [name, tf.tensor(m, weights[name].dims, 'float32')]));
}

/**
 * The parameters a forward pass should see: masked weights multiplied by their mask. The product
 * makes their gradient exactly zero where the mask is, so AdamW's moments and update stay zero
 * there and a pruned weight never moves off zero (decay of zero is zero too).
 */
export function maskedParams(params: TfParams, masks: Record<string, tf.Tensor>): TfParams {
  const out: TfParams = { ...params };
  for (const [name, m] of Object.entries(masks)) out[name] = tf.mul(params[name], m);
  return out;
}

/**
 * A copy of `model` whose initializers named like the weights hold the new values: same graph,
 * nodes, metadata and layout, new numbers. The input model is left as it was.
 */
export function withWeights(model: OnnxModel, weights: Weights): OnnxModel {
  const proto = editModel(model.proto, (e) => {
    for (const [name, w] of Object.entries(weights)) {
      if (!e.view.isInitializer(name)) {
        throw new MmkitError('UNKNOWN_TENSOR', `${model.path ?? 'The student model'} has no initializer '${name}' to write the trained weight into.`, { file: model.path, tensor: name });
      }
      e.replaceInitializer(name, makeTensor(name, 'float32', w.dims, w.data));
    }
  });
  return derivedModel(model, proto);
}
