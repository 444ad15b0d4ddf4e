/**
 * Recovery steps after compression: `distill` (a teacher pipeline's outputs over data) and
 * `fine-tune` (labels). The student is the pipeline's current model; it trains in tfjs with its
 * pruning masks fixed and comes back as the same ONNX graph with new weights.
 */
import type { Dataset } from '../data';
import { MmkitError } from '../errors';
import { isDatasetRef, isPipelineRef, registerStep, type Json, type DatasetRef, type PipelineRef, type TeacherPipeline } from '../step';
// Only the options here: the training modules load tfjs, so they are imported when a step runs
// (a native import(), which needs the file's extension).
import { DISTILL_OP, FINE_TUNE_OP, distillSettings, fineTuneSettings, type DistillOptions, type FineTuneOptions } from '../train/recover-options';

export { DISTILL_OP, FINE_TUNE_OP };

/** pipeline.distill(...): the teacher is a Pipeline (e.g. the unpruned model), data a Dataset. */
export interface DistillStepOptions extends DistillOptions {
  teacher: TeacherPipeline | PipelineRef;
  data: Dataset | DatasetRef;
}

/** pipeline.fineTune(...): labelled data as a Dataset. */
export interface FineTuneStepOptions extends FineTuneOptions {
  data: Dataset | DatasetRef;
}

function requireRef(op: string, options: object, key: string, want: 'dataset' | 'pipeline'): Json {
  const value = (options as Record<string, unknown>)[key];
  const ok = want === 'dataset' ? isDatasetRef(value) : isPipelineRef(value);
  if (!ok) {
    throw new MmkitError('BAD_OPTION', `${op}: ${key} must be a ${want === 'dataset' ? 'Dataset' : 'Pipeline'}${value === undefined ? ', and is missing' : ''}.`, {
      hint: want === 'dataset' ? `Pass ${key}: mm.datasets.mnist({ split: 'train' }).take(2000) or another Dataset.` : `Pass ${key}: mm.load('teacher.onnx') (e.g. the model before pruning).`,
    });
  }
  return value as unknown as Json;
}

function checkObject(op: string, o: unknown): asserts o is object {
  if (typeof o !== 'object' || o === null) throw new MmkitError('BAD_OPTION', `${op}: options must be an object.`, { hint: op === DISTILL_OP ? 'Use e.g. { teacher, data, epochs: 3 }.' : 'Use e.g. { data, epochs: 3 }.' });
}

export function normalizeDistillOptions(o: DistillStepOptions): { [k: string]: Json } {
  checkObject(DISTILL_OP, o);
  const teacher = requireRef(DISTILL_OP, o, 'teacher', 'pipeline');
  const data = requireRef(DISTILL_OP, o, 'data', 'dataset');
  return { ...(distillSettings(o) as unknown as { [k: string]: Json }), teacher, data };
}

export function normalizeFineTuneOptions(o: FineTuneStepOptions): { [k: string]: Json } {
  checkObject(FINE_TUNE_OP, o);
  const data = requireRef(FINE_TUNE_OP, o, 'data', 'dataset');
  return { ...(fineTuneSettings(o) as unknown as { [k: string]: Json }), data };
}

registerStep<DistillStepOptions>({
  op: DISTILL_OP,
  normalize: normalizeDistillOptions,
  async apply(model, options, ctx) {
    const { distillModel } = await import('../train/distill.js');
    const { model: out, report } = await distillModel(model, await ctx.refs.model('teacher'), ctx.refs.dataset('data'), options as unknown as DistillOptions, ctx);
    return { model: out, report };
  },
});

registerStep<FineTuneStepOptions>({
  op: FINE_TUNE_OP,
  normalize: normalizeFineTuneOptions,
  async apply(model, options, ctx) {
    const { fineTuneModel } = await import('../train/fine-tune.js');
    const { model: out, report } = await fineTuneModel(model, ctx.refs.dataset('data'), options as unknown as FineTuneOptions, ctx);
    return { model: out, report };
  },
});
