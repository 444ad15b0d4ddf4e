/**
 * Recovery steps after compression: `distill` (a teacher pipeline's outputs over data) and
 * `fine-tune` (labels). The student is the pipeline's current model; it trains in tfjs with its
 * pruning masks fixed and comes back as the same ONNX graph with new weights.
 */
import type { Dataset } from '../data';
import { MmkitError } from '../errors';
import { isDatasetRef, isPipelineRef, registerStep, type DatasetRef, type PipelineRef, type TeacherPipeline } from '../step';
// Only the options here: the training modules load tfjs, so they are imported when a step runs
// (a native import(), which needs the file's extension).
import { DISTILL_OP, FINE_TUNE_OP, distillSettings, fineTuneSettings, type DistillOptions, type DistillSettings, type FineTuneOptions, type FineTuneSettings } from '../train/recover-options';

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

/** A Dataset option, as the pipeline hands it to normalize: its ref. */
function datasetOption(op: string, key: string, value: unknown): DatasetRef {
  if (isDatasetRef(value)) return value;
  throw new MmkitError('BAD_OPTION', `${op}: ${key} must be a Dataset${value === undefined ? ', and is missing' : ''}.`, {
    hint: `Pass ${key}: mm.datasets.mnist({ split: 'train' }).take(2000) or another Dataset.`,
  });
}

/** A Pipeline option, as the pipeline hands it to normalize: its ref. */
function pipelineOption(op: string, key: string, value: unknown): PipelineRef {
  if (isPipelineRef(value)) return value;
  throw new MmkitError('BAD_OPTION', `${op}: ${key} must be a Pipeline${value === undefined ? ', and is missing' : ''}.`, {
    hint: `Pass ${key}: mm.load('teacher.onnx') (e.g. the model before pruning).`,
  });
}

function checkObject(op: string, o: unknown): asserts o is object {
  if (typeof o !== 'object' || o === null) throw new MmkitError('BAD_OPTION', `${op}: options must be an object.`, { hint: op === DISTILL_OP ? 'Use e.g. { teacher, data, epochs: 3 }.' : 'Use e.g. { data, epochs: 3 }.' });
}

/** The training settings, the teacher and the data as refs: what the recipe records and the step reads. */
export type DistillStepSettings = DistillSettings & { teacher: PipelineRef; data: DatasetRef };
export type FineTuneStepSettings = FineTuneSettings & { data: DatasetRef };

export function normalizeDistillOptions(o: DistillStepOptions): DistillStepSettings {
  checkObject(DISTILL_OP, o);
  const teacher = pipelineOption(DISTILL_OP, 'teacher', o.teacher);
  const data = datasetOption(DISTILL_OP, 'data', o.data);
  return { ...distillSettings(o), teacher, data };
}

export function normalizeFineTuneOptions(o: FineTuneStepOptions): FineTuneStepSettings {
  checkObject(FINE_TUNE_OP, o);
  const data = datasetOption(FINE_TUNE_OP, 'data', o.data);
  return { ...fineTuneSettings(o), data };
}

export const distillStep = registerStep({
  op: DISTILL_OP,
  normalize: normalizeDistillOptions,
  async apply(model, settings, ctx) {
    const { distillation } = await import('../train/distill.js');
    const { model: out, report } = await distillation(model, await ctx.refs.model('teacher'), ctx.refs.dataset('data'), settings, ctx);
    return { model: out, report };
  },
});

export const fineTuneStep = registerStep({
  op: FINE_TUNE_OP,
  normalize: normalizeFineTuneOptions,
  async apply(model, settings, ctx) {
    const { fineTuning } = await import('../train/fine-tune.js');
    const { model: out, report } = await fineTuning(model, ctx.refs.dataset('data'), settings, ctx);
    return { model: out, report };
  },
});
