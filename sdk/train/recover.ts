/**
 * What distillation and fine-tuning share: options, the in-memory batches, the tfjs forward of the
 * student as logits (a ViT's class logits, CLIP's in-batch image→text and text→image logits),
 * training with fixed pruning masks through trainLoop, validation on held-out items, and the
 * report of what the run did.
 */
import * as tf from '@tensorflow/tfjs';
import { mulberry32, permutation } from '../data';
import { MmkitError } from '../errors';
import type { RecoverSettings } from './recover-options';
import { clipForward, toVariables, vitLogits, type ModelSpec, type TfParams, type Weights } from '../models';
import type { OnnxModel } from '../onnx';
import type { RunContext, StepReport } from '../step';
import { useTrainingBackend } from './backend';
import { trainLoop, type EpochRecord } from './loop';
import type { RecoveryData, TeacherOutputs } from './recover-data';
import { maskTensors, maskedCount, maskedParams, pruningMasks, type Student } from './student';

/** One batch as tfjs tensors (disposed after its step). */
export interface RecoveryBatch {
  pixels: tf.Tensor4D;
  text?: { ids: tf.Tensor2D; mask: tf.Tensor2D };
  /** Row-normalised targets of the first logits view: one-hot labels, or for CLIP the items with an equal caption. */
  targets?: tf.Tensor2D;
  /** The teacher's logits in the student's form (absent when fine-tuning). */
  teacher?: tf.Tensor2D;
}

/** What the run optimises and how validation scores a prediction. */
export interface Objective {
  /** A line for the report: the loss in words. */
  describe: string;
  /** Name of the validation metric (higher is better). */
  metric: string;
  /** Loss over the logits views of the student (and of the teacher / targets in the batch). */
  loss(student: tf.Tensor2D[], batch: RecoveryBatch): tf.Scalar;
  /** Per row of the first view: 1 where the student's top-1 counts as right. */
  hits(student: tf.Tensor2D, batch: RecoveryBatch): tf.Tensor1D;
}

/**
 * The rows a loss is taken over: a ViT's logits as they are; for CLIP the image→text logits and
 * their transpose (text→image). Teacher logits and targets get the same views (CLIP's caption
 * targets are symmetric).
 */
export function views(first: tf.Tensor2D, spec: ModelSpec): tf.Tensor2D[] {
  return spec.kind === 'vit' ? [first] : [first, tf.transpose(first) as tf.Tensor2D];
}

/** The student's logits views on a batch. */
export function logitViews(params: TfParams, spec: ModelSpec, b: RecoveryBatch): tf.Tensor2D[] {
  const first = spec.kind === 'vit' ? vitLogits(params, spec, b.pixels) : clipForward(params, spec, b.pixels, b.text!.ids, b.text!.mask).logitsPerImage;
  return views(first, spec);
}

function gatherRows<T extends Float32Array | Int32Array>(src: T, indices: ArrayLike<number>, per: number, make: (n: number) => T): T {
  const out = make(indices.length * per);
  for (let k = 0; k < indices.length; k++) out.set(src.subarray(indices[k] * per, (indices[k] + 1) * per), k * per);
  return out;
}

/** Builds the tensors of the items at `indices`. */
function loadBatch(spec: ModelSpec, data: RecoveryData, teacher: TeacherOutputs | undefined, indices: ArrayLike<number>): RecoveryBatch {
  const n = indices.length;
  const v = spec.vision;
  const per = v.channels * v.imageSize * v.imageSize;
  const batch: RecoveryBatch = { pixels: tf.tensor4d(gatherRows(data.pixels, indices, per, (k) => new Float32Array(k)), [n, v.channels, v.imageSize, v.imageSize]) };
  if (data.text) {
    const t = data.text;
    const ids = gatherRows(t.ids, indices, t.length, (k) => new Int32Array(k));
    batch.text = { ids: tf.tensor2d(ids, [n, t.length], 'int32'), mask: tf.tensor2d(gatherRows(t.mask, indices, t.length, (k) => new Int32Array(k)), [n, t.length], 'int32') };
    // Captions are equal when their token rows are: such items are all right answers for each other.
    const same = new Float32Array(n * n);
    const key = (i: number): string => ids.subarray(i * t.length, (i + 1) * t.length).join(',');
    const keys = Array.from({ length: n }, (_, i) => key(i));
    for (let i = 0; i < n; i++) {
      const matches = keys.filter((k) => k === keys[i]).length;
      for (let j = 0; j < n; j++) if (keys[j] === keys[i]) same[i * n + j] = 1 / matches;
    }
    batch.targets = tf.tensor2d(same, [n, n]);
  } else if (data.labels && spec.kind === 'vit') {
    batch.targets = tf.tidy(() => tf.oneHot(tf.tensor1d(Int32Array.from(indices, (i) => data.labels![i]), 'int32'), spec.numClasses).toFloat() as tf.Tensor2D);
  }
  if (teacher?.kind === 'vit') batch.teacher = tf.tensor2d(gatherRows(teacher.logits, indices, teacher.classes, (k) => new Float32Array(k)), [n, teacher.classes]);
  if (teacher?.kind === 'clip') {
    batch.teacher = tf.tidy(() => {
      const image = tf.tensor2d(gatherRows(teacher.image, indices, teacher.dim, (k) => new Float32Array(k)), [n, teacher.dim]);
      const text = tf.tensor2d(gatherRows(teacher.text, indices, teacher.dim, (k) => new Float32Array(k)), [n, teacher.dim]);
      return tf.mul(tf.matMul(image, text, false, true), teacher.scale) as tf.Tensor2D;
    });
  }
  return batch;
}

function disposeBatch(b: RecoveryBatch): void {
  const all: (tf.Tensor | undefined)[] = [b.pixels, b.text?.ids, b.text?.mask, b.targets, b.teacher];
  tf.dispose(all.filter((t): t is tf.Tensor => t !== undefined));
}

/** Mean over rows of −Σ target · log softmax(logits). */
export function softCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
  return tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), -1))) as tf.Scalar;
}

export interface RecoveryPlan {
  op: string;
  title: string;
  student: Student;
  /** The ONNX model holding trained weights (the student's graph, or a fresh one for a spec). */
  output: (weights: Weights) => OnnxModel;
  data: RecoveryData;
  teacher?: TeacherOutputs;
  objective: Objective;
  settings: RecoverSettings;
  /** Lines the report starts with (what the data and the teacher were). */
  lines: string[];
}

export interface RecoveryResult {
  model: OnnxModel;
  report: StepReport;
  history: EpochRecord[];
  /** The validation metric of the student before and after training. */
  before: number;
  after: number;
  /** How many weights the pruning masks held at exactly zero. */
  maskedWeights: number;
}

/** Items [0, validation) validate; the rest train. */
function split(size: number, s: RecoverSettings, op: string): { validation: number; train: number } {
  const validation = s.validationItems ?? Math.min(256, Math.floor(size / 10));
  if (validation < 1 || size - validation < 2) {
    throw new MmkitError('BAD_DATASET', `${op}: the data has ${size} items, too few to hold out ${Math.max(1, validation)} for validation and train on the rest.`, { hint: 'Pass more items (a few hundred at least), or set validationItems.' });
  }
  return { validation, train: size - validation };
}

async function validate(plan: RecoveryPlan, params: TfParams, items: number): Promise<number> {
  let hits = 0;
  for (let s = 0; s < items; s += plan.settings.batchSize) {
    const indices = Array.from({ length: Math.min(items, s + plan.settings.batchSize) - s }, (_, k) => s + k);
    const b = loadBatch(plan.student.spec, plan.data, plan.teacher, indices);
    const sum = tf.tidy(() => tf.sum(plan.objective.hits(logitViews(params, plan.student.spec, b)[0], b)));
    hits += (await sum.data())[0];
    tf.dispose(sum);
    disposeBatch(b);
  }
  return hits / items;
}

/** Trains the plan's student with its objective, masks fixed, and writes the result back to ONNX. */
export async function runRecovery(plan: RecoveryPlan, ctx: RunContext = {}): Promise<RecoveryResult> {
  await useTrainingBackend();
  const { spec, weights } = plan.student;
  const s = plan.settings;
  const { validation, train } = split(plan.data.size, s, plan.op);
  const per = Math.min(s.batchSize, train);
  const stepsPerEpoch = Math.floor(train / per);
  const masks = pruningMasks(spec, weights);
  const maskT = maskTensors(masks, weights);
  try {
    const start = toVariables(weights);
    const before = await validate(plan, start, validation).finally(() => tf.dispose(Object.values(start)));
    function* batches(epoch: number): Iterable<RecoveryBatch> {
      const order = permutation(train, mulberry32(s.seed * 1_000_003 + epoch));
      for (let at = 0; at + per <= train; at += per) {
        const b = loadBatch(spec, plan.data, plan.teacher, Array.from(order.subarray(at, at + per), (i) => i + validation));
        try {
          yield b;
        } finally {
          disposeBatch(b);
        }
      }
    }
    const total = s.epochs * stepsPerEpoch;
    const result = await trainLoop({
      spec,
      weights,
      epochs: s.epochs,
      stepsPerEpoch,
      batches,
      loss: (params, b) => plan.objective.loss(logitViews(maskedParams(params, maskT), spec, b), b),
      validate: (params) => validate(plan, params, validation),
      lr: s.lr,
      weightDecay: s.weightDecay,
      onStep: (p) => ctx.onProgress?.((p.epoch - 1) * stepsPerEpoch + p.step, total, `${plan.op} epoch ${p.epoch}/${p.epochs}`),
      signal: ctx.signal,
    });
    // Never silently worse: when no epoch beat the starting weights on validation, they stay.
    const improved = result.bestMetric >= before;
    const after = improved ? result.bestMetric : before;
    const maskedWeights = maskedCount(masks);
    const pct = (v: number): string => `${(v * 100).toFixed(2)}%`;
    const report: StepReport = {
      op: plan.op,
      title: plan.title,
      lines: [
        ...plan.lines,
        plan.objective.describe,
        `Trained ${s.epochs} epoch(s) of ${stepsPerEpoch} steps × ${per} items (${train} items; ${validation} held out), AdamW lr ${s.lr}, weight decay ${s.weightDecay}, seed ${s.seed}; kept ${improved ? `epoch ${result.bestEpoch}` : 'the starting weights'}.`,
        `Validation ${plan.objective.metric}: ${pct(before)} → ${pct(after)}.`,
        maskedWeights ? `${maskedWeights} pruned weights (exact zeros in ${Object.keys(masks).length} tensors) were held at zero.` : 'No pruned (exactly zero) weights to hold.',
      ],
      warnings: improved ? [] : [`No epoch beat the starting validation ${plan.objective.metric} (${pct(before)}; best epoch ${pct(result.bestMetric)}): the weights are returned unchanged. Try a lower lr or more data.`],
      table: { columns: ['epoch', 'loss', plan.objective.metric, 'lr', 'seconds'], rows: result.history.map((r) => [r.epoch, r.loss, r.metric, r.lr, r.seconds]) },
      data: { before, after, trained: improved, bestEpoch: result.bestEpoch, maskedWeights, trainItems: train, validationItems: validation },
    };
    return { model: plan.output(improved ? result.weights : weights), report, history: result.history, before, after, maskedWeights };
  } finally {
    tf.dispose(Object.values(maskT));
  }
}
