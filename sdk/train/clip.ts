import * as tf from '@tensorflow/tfjs';
import { mulberry32, permutation } from '../data';
import { renderShapes, shapeIndices, shapesTokenizer, SHAPES_SPLIT_SIZES } from '../data/shapes';
import { MmkitError } from '../errors';
import { checkSpec, clipForward, initWeights, type ClipSpec, type TfParams, type Weights } from '../models';
import { measureClip, type ClipEmbedder, type ClipMetrics } from './clip-metrics';
import { trainLoop, type EpochRecord, type StepProgress, type TrainResult } from './loop';

export interface TrainClipOptions {
  spec: ClipSpec;
  /** The first `validationSize` items of the shapes train split are held out for validation. */
  validationSize?: number;
  /** Train on only this many items after the validation ones (default: the rest of the split). */
  trainItems?: number;
  weights?: Weights;
  epochs: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  seed?: number;
  patience?: number;
  checkpointDir?: string;
  onStep?: (p: StepProgress) => void;
  onEpoch?: (r: EpochRecord) => void;
  /** Called with the full validation metrics of each epoch (the loop itself tracks their mean). */
  onValidation?: (m: ClipMetrics) => void;
  signal?: AbortSignal;
}

interface ClipBatch {
  pixels: tf.Tensor4D;
  ids: tf.Tensor2D;
  mask: tf.Tensor2D;
  /** Row-normalised [B, B] targets: items whose captions are equal are all positives of each other. */
  targets: tf.Tensor2D;
}

/** The tfjs model as a ClipEmbedder, for validation during training. */
export function tfClipEmbedder(params: TfParams, spec: ClipSpec): ClipEmbedder {
  return async (pixels, text) => {
    const [image, txt] = tf.tidy(() => {
      const ids = tf.tensor2d(Int32Array.from(text.input_ids.data as BigInt64Array, Number), text.input_ids.dims as [number, number], 'int32');
      const mask = tf.tensor2d(Int32Array.from(text.attention_mask.data as BigInt64Array, Number), text.attention_mask.dims as [number, number], 'int32');
      const out = clipForward(params, spec, tf.tensor4d(pixels.data as Float32Array, pixels.dims as [number, number, number, number]), ids, mask);
      return [out.imageEmbeds, out.textEmbeds];
    });
    const result = { image: (await image.data()) as Float32Array, text: (await txt.data()) as Float32Array };
    tf.dispose([image, txt]);
    return result;
  };
}

/** Trains CLIP on the shapes set with the symmetric contrastive (InfoNCE) loss; validation is the mean of zero-shot top-1 and both recall@1. */
export async function trainClip(opts: TrainClipOptions): Promise<TrainResult> {
  const { spec } = opts;
  checkSpec(spec);
  const tokenizer = shapesTokenizer();
  if (spec.text.vocabSize !== tokenizer.size || spec.text.maxLength < tokenizer.maxLength || spec.vision.channels !== 3) {
    throw new MmkitError('BAD_OPTION', `trainClip: the spec must take 3-channel images and the shapes vocabulary (${tokenizer.size} tokens, up to ${tokenizer.maxLength} long).`, { hint: 'Start from CLIP_TINY_SHAPES and change the tower sizes only.' });
  }
  const validationSize = opts.validationSize ?? 1000;
  const trainItems = Math.min(opts.trainItems ?? Infinity, SHAPES_SPLIT_SIZES.train - validationSize);
  const trainIndices = Int32Array.from({ length: trainItems }, (_, i) => i + validationSize);
  const validation = shapeIndices('train').slice(0, validationSize);
  const perBatch = opts.batchSize ?? 128;
  const seed = opts.seed ?? 0;

  function* batches(epoch: number): Iterable<ClipBatch> {
    const order = permutation(trainIndices.length, mulberry32(seed * 1_000_003 + epoch));
    for (let s = 0; s + perBatch <= order.length; s += perBatch) {
      const { pixels, scenes } = renderShapes('train', Array.from(order.subarray(s, s + perBatch), (k) => trainIndices[k]));
      const text = tokenizer.encode(scenes.map((sc) => sc.caption));
      const same = new Float32Array(perBatch * perBatch);
      for (let i = 0; i < perBatch; i++) {
        const matches = scenes.filter((sc) => sc.caption === scenes[i].caption).length;
        for (let j = 0; j < perBatch; j++) if (scenes[j].caption === scenes[i].caption) same[i * perBatch + j] = 1 / matches;
      }
      const toInt = (t: typeof text.input_ids): tf.Tensor2D => tf.tensor2d(Int32Array.from(t.data as BigInt64Array, Number), t.dims as [number, number], 'int32');
      const batch: ClipBatch = {
        pixels: tf.tensor4d(pixels.data as Float32Array, pixels.dims as [number, number, number, number]),
        ids: toInt(text.input_ids),
        mask: toInt(text.attention_mask),
        targets: tf.tensor2d(same, [perBatch, perBatch]),
      };
      try {
        yield batch;
      } finally {
        tf.dispose([batch.pixels, batch.ids, batch.mask, batch.targets]);
      }
    }
  }

  return trainLoop({
    spec,
    weights: opts.weights ?? initWeights(spec, seed),
    epochs: opts.epochs,
    stepsPerEpoch: Math.floor(trainIndices.length / perBatch),
    batches,
    loss: (params, b) => {
      const { logitsPerImage } = clipForward(params, spec, b.pixels, b.ids, b.mask);
      const perImage = tf.losses.softmaxCrossEntropy(b.targets, logitsPerImage);
      const perText = tf.losses.softmaxCrossEntropy(b.targets, tf.transpose(logitsPerImage));
      return tf.div(tf.add(perImage, perText), 2) as tf.Scalar;
    },
    validate: async (params) => {
      const m = await measureClip(tfClipEmbedder(params, spec), {
        split: 'train',
        zeroShotIndices: validation.filter((i) => i % 2 === 0),
        retrievalIndices: validation.filter((i) => i % 2 === 1),
      });
      opts.onValidation?.(m);
      return (m.zeroShotTop1 + m.imageToText.r1 + m.textToImage.r1) / 3;
    },
    lr: opts.lr ?? 1e-3,
    weightDecay: opts.weightDecay,
    patience: opts.patience,
    checkpointDir: opts.checkpointDir,
    onStep: opts.onStep,
    onEpoch: opts.onEpoch,
    signal: opts.signal,
  });
}
