/**
 * The options of distill and fine-tune, checked and made explicit for recipes. Kept apart from the
 * training code so that registering the steps does not load tfjs (it loads when a step runs).
 */
import { MmkitError } from '../errors';
import { checkSpec } from '../models/spec';
import type { ModelSpec } from '../models/spec';

/** Training options common to distill and fineTune. */
export interface RecoverOptions {
  /** Passes over the training items (default 3). */
  epochs?: number;
  /** Items per step (default 32). */
  batchSize?: number;
  /** Peak learning rate of the warm-up + cosine schedule (default 5e-4: the student is trained already). */
  lr?: number;
  /** AdamW's decoupled weight decay on linear weights (default 0.01). */
  weightDecay?: number;
  /** Seeds the batch order (and a fresh student's init): equal seeds give equal models (default 0). */
  seed?: number;
  /** Use at most this many items of the data (default: all). */
  maxItems?: number | null;
  /**
   * Items held out from the start of the data to pick the best epoch and report before/after
   * (default: a tenth of the items, at most 256).
   */
  validationItems?: number | null;
}

/** The checked, defaulted training options (plain JSON: recipes record them). */
export type RecoverSettings = {
  epochs: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  seed: number;
  maxItems: number | null;
  validationItems: number | null;
};

function bad(op: string, message: string, hint: string): MmkitError {
  return new MmkitError('BAD_OPTION', `${op}: ${message}`, { hint });
}

function wholeAtLeast(op: string, key: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw bad(op, `${key} must be a whole number ≥ ${min}, got ${JSON.stringify(v)}.`, `Pass e.g. ${key}: ${Math.max(min, 1) * 32}.`);
  return v;
}

/** Checks the training options and makes their defaults explicit (for recipes). */
export function recoverSettings(op: string, o: RecoverOptions): RecoverSettings {
  const lr = o.lr ?? 5e-4;
  if (typeof lr !== 'number' || !(lr > 0 && lr < 1)) throw bad(op, `lr must be in (0, 1), got ${JSON.stringify(lr)}.`, 'Use e.g. 5e-4 to recover a trained model.');
  const weightDecay = o.weightDecay ?? 0.01;
  if (typeof weightDecay !== 'number' || !(weightDecay >= 0 && weightDecay < 1)) throw bad(op, `weightDecay must be in [0, 1), got ${JSON.stringify(weightDecay)}.`, 'Use e.g. 0.01, or 0 for none.');
  const seed = o.seed ?? 0;
  if (!Number.isInteger(seed)) throw bad(op, `seed must be a whole number, got ${JSON.stringify(seed)}.`, 'Use e.g. seed: 0.');
  return {
    epochs: wholeAtLeast(op, 'epochs', o.epochs ?? 3, 1),
    batchSize: wholeAtLeast(op, 'batchSize', o.batchSize ?? 32, 2),
    lr,
    weightDecay,
    seed,
    maxItems: o.maxItems == null ? null : wholeAtLeast(op, 'maxItems', o.maxItems, 2),
    validationItems: o.validationItems == null ? null : wholeAtLeast(op, 'validationItems', o.validationItems, 1),
  };
}

export const DISTILL_OP = 'distill';

export interface DistillOptions extends RecoverOptions {
  /** Softmax temperature T of the teacher and student outputs (default 2); the KL term is scaled by T². */
  temperature?: number;
  /**
   * Weight of the distillation term; 1 − alpha weighs cross-entropy on the labels (for CLIP: on
   * the true image–caption pairs). Default 0.5 with labels, 1 for data without labels.
   */
  alpha?: number | null;
  /** Train a fresh student of this spec (seeded by `seed`) instead of the model itself. */
  student?: ModelSpec | null;
}

export type DistillSettings = RecoverSettings & {
  temperature: number;
  alpha: number | null;
  student: ModelSpec | null;
};

/** Checks the options and makes their defaults explicit. */
export function distillSettings(o: DistillOptions): DistillSettings {
  const temperature = o.temperature ?? 2;
  if (typeof temperature !== 'number' || !(temperature > 0) || !Number.isFinite(temperature)) {
    throw new MmkitError('BAD_OPTION', `${DISTILL_OP}: temperature must be > 0, got ${JSON.stringify(temperature)}.`, { hint: 'Use e.g. temperature: 2 (1 matches the plain softmax).' });
  }
  const alpha = o.alpha ?? null;
  if (alpha !== null && (typeof alpha !== 'number' || !(alpha >= 0 && alpha <= 1))) {
    throw new MmkitError('BAD_OPTION', `${DISTILL_OP}: alpha must be in [0, 1], got ${JSON.stringify(alpha)}.`, { hint: 'alpha weighs the teacher term, 1 − alpha the labels; use e.g. 0.5.' });
  }
  const student = o.student ?? null;
  if (student !== null) {
    if (typeof student !== 'object' || (student.kind !== 'vit' && student.kind !== 'clip')) {
      throw new MmkitError('BAD_OPTION', `${DISTILL_OP}: student must be a ViT or CLIP model spec ({ kind: 'vit' | 'clip', ... }).`, { hint: 'Start from VIT_TINY_MNIST or CLIP_TINY_SHAPES and change the sizes.' });
    }
    checkSpec(student);
  }
  return { ...recoverSettings(DISTILL_OP, o), temperature, alpha, student };
}

export const FINE_TUNE_OP = 'fine-tune';

export type FineTuneOptions = RecoverOptions;
export type FineTuneSettings = RecoverSettings;

export function fineTuneSettings(o: FineTuneOptions): FineTuneSettings {
  return recoverSettings(FINE_TUNE_OP, o);
}
