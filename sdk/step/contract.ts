import { MmkitError } from '../errors';
import type { OnnxModel } from '../onnx';
import type { Dataset, DatasetSpec } from '../data';
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

/** What a step gets besides its input model. */
export interface StepContext extends RunContext {
  refs: StepRefs;
}

/**
 * How a Dataset option is recorded in a recipe: its name and size, and the spec that rebuilds it
 * when it came from built-in sources (else a replay asks for it by name).
 */
export interface DatasetRef {
  dataset: { name: string | null; size: number | null; spec: DatasetSpec | null };
}

/** How a Pipeline option (a teacher) is recorded: its own recipe. */
export interface PipelineRef {
  pipeline: Recipe;
}

/** The ref a recipe records for a Dataset option. */
export function datasetRef(ds: Dataset): DatasetRef {
  return { dataset: { name: ds.name ?? null, size: ds.size ?? null, spec: ds.info.spec ?? null } };
}

export function isDatasetRef(v: unknown): v is DatasetRef {
  return typeof v === 'object' && v !== null && 'dataset' in v && typeof (v as DatasetRef).dataset === 'object';
}

export function isPipelineRef(v: unknown): v is PipelineRef {
  return typeof v === 'object' && v !== null && 'pipeline' in v && typeof (v as PipelineRef).pipeline === 'object';
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

const registry = new Map<string, StepKind<never>>();

/** Passes register their step kind once, at module load; the pipeline and fromRecipe look them up. */
export function registerStep<O>(kind: StepKind<O>): StepKind<O> {
  if (registry.has(kind.op)) throw new Error(`mmkit internal error: step "${kind.op}" registered twice`);
  registry.set(kind.op, kind as StepKind<never>);
  return kind;
}

export function stepKind(op: string): StepKind<never> {
  const kind = registry.get(op);
  if (!kind) {
    throw new MmkitError('BAD_RECIPE', `Unknown pipeline step "${op}".`, {
      hint: `Known steps: ${[...registry.keys()].sort().join(', ') || '(none)'}. A recipe from a newer mmkit may need an upgrade.`,
    });
  }
  return kind;
}
