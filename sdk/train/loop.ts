import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { MmkitError } from '../errors';
import { buildOnnx, fromTensors, paramDecls, toVariables, type ModelSpec, type TfParams, type Weights } from '../models';
import { writeModel } from '../onnx';
import { AdamW, cosineSchedule } from './adamw';

export interface StepProgress {
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  /** Mean training loss over this epoch so far. */
  loss: number;
  lr: number;
}

export interface EpochRecord {
  epoch: number;
  loss: number;
  /** The validation metric (higher is better). */
  metric: number;
  lr: number;
  seconds: number;
}

export interface TrainLoopOptions<B> {
  spec: ModelSpec;
  /** Starting weights: a fresh initWeights(), or weights read from an ONNX model to fine-tune. */
  weights: Weights;
  epochs: number;
  stepsPerEpoch: number;
  /** The training batches of one epoch; the caller seeds its shuffling and augmentation by epoch. */
  batches: (epoch: number) => Iterable<B>;
  /** Scalar loss of one batch; runs inside tf.grad. */
  loss: (params: TfParams, batch: B) => tf.Scalar;
  /** A validation score, higher is better (accuracy, recall); picks the best epoch. */
  validate: (params: TfParams) => Promise<number>;
  lr: number;
  warmupSteps?: number;
  weightDecay?: number;
  /** Stop after this many epochs without a better validation score (default: never). */
  patience?: number;
  /** Folder for checkpoints: `best.onnx` (best weights so far) and `history.json`, rewritten every epoch. */
  checkpointDir?: string;
  onStep?: (p: StepProgress) => void;
  onEpoch?: (r: EpochRecord) => void;
  signal?: AbortSignal;
}

export interface TrainResult {
  /** The weights of the best validation epoch. */
  weights: Weights;
  bestEpoch: number;
  bestMetric: number;
  history: EpochRecord[];
  stoppedEarly: boolean;
}

/**
 * The training loop shared by every model: AdamW with warm-up + cosine learning rate, one
 * validation per epoch, best-epoch tracking, checkpoints and early stopping. Deterministic for
 * a given backend when `batches` is seeded.
 */
export async function trainLoop<B>(opts: TrainLoopOptions<B>): Promise<TrainResult> {
  if (!(Number.isInteger(opts.epochs) && opts.epochs >= 1)) throw new MmkitError('BAD_OPTION', `train: epochs must be a whole number ≥ 1, got ${opts.epochs}.`);
  const params = toVariables(opts.weights);
  const decay = new Set(paramDecls(opts.spec).filter((d) => d.decay).map((d) => d.name));
  const optimizer = new AdamW(params, decay, { weightDecay: opts.weightDecay });
  // tf.variableGrads keys gradients by the variables' own (generated) names.
  const paramOf = new Map(Object.entries(params).map(([name, v]) => [v.name, name]));
  const total = opts.epochs * opts.stepsPerEpoch;
  const warmup = opts.warmupSteps ?? Math.min(total, opts.stepsPerEpoch);
  const history: EpochRecord[] = [];
  let best: { epoch: number; metric: number; weights: Weights } | undefined;
  let stoppedEarly = false;
  let step = 0;
  try {
    for (let epoch = 1; epoch <= opts.epochs; epoch++) {
      const started = performance.now();
      let lossSum = 0;
      let n = 0;
      let lr = 0;
      for (const batch of opts.batches(epoch)) {
        if (opts.signal?.aborted) throw new MmkitError('CANCELLED', `Training was cancelled in epoch ${epoch}.`);
        lr = cosineSchedule(step++, total, opts.lr, warmup);
        const { value, grads } = tf.variableGrads(() => opts.loss(params, batch), Object.values(params));
        optimizer.step(Object.fromEntries(Object.entries(grads).map(([v, g]) => [paramOf.get(v)!, g])), lr);
        lossSum += (await value.data())[0];
        tf.dispose([value, ...Object.values(grads)]);
        n++;
        opts.onStep?.({ epoch, epochs: opts.epochs, step: n, stepsPerEpoch: opts.stepsPerEpoch, loss: lossSum / n, lr });
        // Let timers and cancellation through between steps.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      const metric = await opts.validate(params);
      const record: EpochRecord = { epoch, loss: lossSum / Math.max(n, 1), metric, lr, seconds: (performance.now() - started) / 1000 };
      history.push(record);
      opts.onEpoch?.(record);
      if (!best || metric > best.metric) {
        best = { epoch, metric, weights: await fromTensors(params) };
        if (opts.checkpointDir) await writeCheckpoint(opts.checkpointDir, opts.spec, best.weights);
      }
      if (opts.checkpointDir) await fs.writeFile(path.join(opts.checkpointDir, 'history.json'), JSON.stringify({ bestEpoch: best.epoch, history }, null, 2));
      if (opts.patience !== undefined && epoch - best.epoch >= opts.patience) {
        stoppedEarly = epoch < opts.epochs;
        break;
      }
    }
  } finally {
    optimizer.dispose();
    tf.dispose(Object.values(params));
  }
  return { weights: best!.weights, bestEpoch: best!.epoch, bestMetric: best!.metric, history, stoppedEarly };
}

async function writeCheckpoint(dir: string, spec: ModelSpec, weights: Weights): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await writeModel(buildOnnx(spec, weights), path.join(dir, 'best.onnx'));
}
