/**
 * The step contract: what a pipeline step is (StepKind), what it gets (StepContext) and what it
 * gives back (StepResult, StepReport). Passes, training and checks build on it; the Pipeline runs it.
 */
import type { OnnxModel } from '../onnx';
import type { Dataset } from '../data';
import type { Json, Recipe } from './recipe';

/** What every long-running call accepts: cancellation and progress. */
export interface RunContext {
  signal?: AbortSignal;
  onProgress?: (done: number, total?: number, label?: string) => void;
}

/** The live objects a step's options referred to, by top-level option key. */
export interface StepRefs {
  /** The Dataset given as option `key` (calibration or training data). */
  dataset(key: string): Dataset;
  /** The model of the Pipeline given as option `key` (a teacher), computed once. */
  model(key: string): Promise<OnnxModel>;
}

/**
 * What a step needs of a pipeline given as an option (a distillation teacher): the recipe that
 * records it and its model. Typed by shape so that steps never import the Pipeline class.
 */
export interface TeacherPipeline {
  readonly recipe: Recipe;
  model(ctx?: RunContext): Promise<OnnxModel>;
}

/** What a step gets besides its input model. */
export interface StepContext extends RunContext {
  refs: StepRefs;
}

/** What a pass did and found (realized sparsity, values clamped, ...), shown with the pipeline. */
export interface StepReport {
  op: string;
  title: string;
  lines: string[];
  warnings: string[];
  table?: { columns: string[]; rows: (string | number | null)[][] };
  data?: Json;
}

export interface StepResult {
  model: OnnxModel;
  report?: StepReport;
}

/**
 * One kind of pipeline step. `normalize` turns user options into the full JSON options that the
 * recipe records (defaults made explicit, values checked; Dataset and Pipeline options arrive as
 * DatasetRef / PipelineRef); `apply` is a pure model → model pass. Steps with `checked` set are
 * compressions: the pipeline checks their result against their input (never silently worse).
 */
export interface StepKind<Options> {
  op: string;
  normalize(options: Options): { [k: string]: Json };
  apply(model: OnnxModel, options: { [k: string]: Json }, ctx: StepContext): Promise<OnnxModel | StepResult>;
  checked?: boolean;
}
