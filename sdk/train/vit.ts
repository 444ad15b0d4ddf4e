import * as tf from '@tensorflow/tfjs';
import { mulberry32, permutation, type Batch } from '../data';
import { MmkitError } from '../errors';
import { checkSpec, initWeights, vitLogits, type TfParams, type VitSpec, type Weights } from '../models';
import { collectImages, shiftedBatch, sliceImages, type ImageSet } from './images';
import { trainLoop, type EpochRecord, type StepProgress, type TrainResult } from './loop';

export interface TrainVitOptions {
  spec: VitSpec;
  /** Labelled images [N, C, H, W]; the first `validationSize` items (after the set's own order) are held out for validation. */
  train: AsyncIterable<Batch>;
  validationSize: number;
  /** Start from these weights (e.g. weightsFromOnnx) instead of a fresh seeded init. */
  weights?: Weights;
  epochs: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  labelSmoothing?: number;
  /** Largest random shift in pixels (augmentation); 0 turns it off. */
  maxShift?: number;
  /** Pixel value of the background, used where a shift uncovers the image. */
  background?: number;
  seed?: number;
  patience?: number;
  checkpointDir?: string;
  onStep?: (p: StepProgress) => void;
  onEpoch?: (r: EpochRecord) => void;
  signal?: AbortSignal;
}

const EVAL_BATCH = 250;

/** Top-1 accuracy of the tfjs model on an in-memory image set. */
export async function tfAccuracy(params: TfParams, spec: VitSpec, set: ImageSet): Promise<number> {
  let correct = 0;
  for (let s = 0; s < set.size; s += EVAL_BATCH) {
    const part = sliceImages(set, s, Math.min(set.size, s + EVAL_BATCH));
    const predicted = tf.tidy(() => tf.argMax(vitLogits(params, spec, tf.tensor4d(part.pixels, [part.size, ...part.shape])), -1));
    const p = (await predicted.data()) as Int32Array;
    predicted.dispose();
    for (let i = 0; i < part.size; i++) if (p[i] === part.labels[i]) correct++;
  }
  return correct / set.size;
}

/** Trains a ViT classifier with cross-entropy (label smoothing), random shifts, AdamW and a cosine schedule. */
export async function trainVit(opts: TrainVitOptions): Promise<TrainResult> {
  const { spec } = opts;
  checkSpec(spec);
  const all = await collectImages(opts.train);
  const want = [spec.vision.channels, spec.vision.imageSize, spec.vision.imageSize];
  if (all.shape.join(',') !== want.join(',')) {
    throw new MmkitError('SHAPE_MISMATCH', `The training images are [${all.shape}] but the ViT spec takes [${want}].`, { hint: 'Match the spec (channels, imageSize) to the data.' });
  }
  if (!(opts.validationSize >= 1 && opts.validationSize < all.size)) {
    throw new MmkitError('BAD_OPTION', `trainVit: validationSize must be between 1 and ${all.size - 1}, got ${opts.validationSize}.`);
  }
  const validation = sliceImages(all, 0, opts.validationSize);
  const train = sliceImages(all, opts.validationSize, all.size);
  const perBatch = opts.batchSize ?? 64;
  const seed = opts.seed ?? 0;
  const stepsPerEpoch = Math.floor(train.size / perBatch);
  const smoothing = opts.labelSmoothing ?? 0.1;

  function* batches(epoch: number): Iterable<{ pixels: Float32Array; labels: Int32Array }> {
    const rand = mulberry32(seed * 1_000_003 + epoch);
    const order = permutation(train.size, rand);
    for (let s = 0; s + perBatch <= train.size; s += perBatch) {
      const idx = order.subarray(s, s + perBatch);
      yield { pixels: shiftedBatch(train, idx, opts.maxShift ?? 2, opts.background ?? 0, rand), labels: Int32Array.from(idx, (i) => train.labels[i]) };
    }
  }

  return trainLoop({
    spec,
    weights: opts.weights ?? initWeights(spec, seed),
    epochs: opts.epochs,
    stepsPerEpoch,
    batches,
    loss: (params, b) => {
      const logits = vitLogits(params, spec, tf.tensor4d(b.pixels, [b.labels.length, ...train.shape]));
      const target = tf.oneHot(tf.tensor1d(b.labels, 'int32'), spec.numClasses);
      return tf.losses.softmaxCrossEntropy(target, logits, undefined, smoothing) as tf.Scalar;
    },
    validate: (params) => tfAccuracy(params, spec, validation),
    lr: opts.lr ?? 1e-3,
    weightDecay: opts.weightDecay,
    patience: opts.patience,
    checkpointDir: opts.checkpointDir,
    onStep: opts.onStep,
    onEpoch: opts.onEpoch,
    signal: opts.signal,
  });
}
