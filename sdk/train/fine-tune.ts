/**
 * Fine-tuning a (pruned) model on labelled data with cross-entropy, its pruning masks fixed: for a
 * ViT on the class labels, for CLIP contrastively on the true image–caption pairs.
 */
import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../data';
import { MmkitError } from '../errors';
import type { OnnxModel } from '../onnx';
import type { RunContext } from '../step';
import { collectRecoveryData } from './recover-data';
import { runRecovery, softCrossEntropy, views, type Objective, type RecoveryResult } from './recover';
import { FINE_TUNE_OP, fineTuneSettings, type FineTuneOptions, type FineTuneSettings } from './recover-options';
import { studentFromOnnx, withWeights } from './student';
import type { ModelSpec } from '../models';

function fineTuneObjective(spec: ModelSpec): Objective {
  return {
    describe: spec.kind === 'vit' ? 'Loss: cross-entropy on the labels.' : 'Loss: symmetric contrastive cross-entropy on the true image–caption pairs (equal captions all count).',
    metric: spec.kind === 'vit' ? 'top-1 accuracy' : 'in-batch image→text top-1',
    loss(student, b) {
      const targets = views(b.targets!, spec);
      return tf.div(tf.addN(student.map((s, i) => softCrossEntropy(s, targets[i]))), student.length) as tf.Scalar;
    },
    // Right where the target gives the student's top-1 column any weight.
    hits: (student, b) => tf.cast(tf.greater(tf.sum(tf.mul(b.targets!, tf.oneHot(tf.argMax(student, -1), student.shape[1])), -1), 0), 'float32') as tf.Tensor1D,
  };
}

/** Fine-tunes `model` on labelled `data` and returns it as ONNX (its own graph, new weights); the input is not changed. */
export async function fineTuneModel(model: OnnxModel, data: AsyncIterable<Batch>, options: FineTuneOptions = {}, ctx: RunContext = {}): Promise<RecoveryResult> {
  return fineTuning(model, data, fineTuneSettings(options), ctx);
}

/** fineTuneModel over checked settings. */
export async function fineTuning(model: OnnxModel, data: AsyncIterable<Batch>, s: FineTuneSettings, ctx: RunContext = {}): Promise<RecoveryResult> {
  const student = studentFromOnnx(model);
  const items = await collectRecoveryData(data, student.spec, s.maxItems ?? Infinity, 'the fine-tuning data', ctx.signal);
  if (student.spec.kind === 'vit' && !items.labels) {
    throw new MmkitError('BAD_DATASET', `${FINE_TUNE_OP}: the data has no labels to fine-tune on.`, { hint: 'Pass labelled data (e.g. mm.datasets.mnist({ split: "train" })), or distill from a teacher instead.' });
  }
  return runRecovery(
    {
      op: FINE_TUNE_OP,
      title: `Fine-tuning on ${items.size} items`,
      student,
      output: (w) => withWeights(model, w),
      data: items,
      objective: fineTuneObjective(student.spec),
      settings: s,
      lines: [`Model: ${model.path ?? `the ${student.spec.kind}`}${student.spec.vision.blocks ? ' (pruned widths per block)' : ''}.`],
    },
    ctx,
  );
}
