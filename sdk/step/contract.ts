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
  /** How much of what the step targets it changed: the pipeline warns when that is little or nothing. */
  coverage?: StepCoverage;
}

/**
 * The layers (or weights, units) a step looked at and how many it rewrote; the rest counted by why
 * they were left ('under minElements', 'excluded', 'float16 weights', ...).
 */
export interface StepCoverage {
  unit: string;
  targeted: number;
  changed: number;
  skipped: Record<string, number>;
}

export interface StepResult {
  model: OnnxModel;
  report?: StepReport;
}

/**
 * A step's settings: its options checked once, every default explicit, as plain JSON. They are
 * what the recipe records and what `apply` receives, unchanged.
 */
export type StepSettings = { [k: string]: Json };

/**
 * One kind of pipeline step, split as a public verb and an internal one: `normalize` parses the
 * user's options (Dataset and Pipeline options arrive as DatasetRef / PipelineRef) into the typed,
 * fully-defaulted settings, and is the only place options are checked; `apply` is a pure
 * model → model pass over those settings. A replayed recipe's settings go through `normalize`
 * too: a recipe is JSON from outside. Steps with `checked` set are compressions: the pipeline
 * checks their result against their input (never silently worse).
 */
export interface StepKind<Options, Settings extends StepSettings = StepSettings> {
  op: string;
  normalize(options: Options): Settings;
  apply(model: OnnxModel, settings: Settings, ctx: StepContext): Promise<OnnxModel | StepResult>;
  checked?: boolean;
}

/** The user options a step kind parses. */
export type StepOptions<K> = K extends StepKind<infer O, infer _S> ? O : never;
