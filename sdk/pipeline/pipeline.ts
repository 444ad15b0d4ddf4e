import { MmkitError } from '../errors';
import { derivedModel, type OnnxModel } from '../onnx';
import { createSession, toOrt, type Device, type OrtTensor, type SessionOptions } from '../runtime';
import type { Batch, TensorData } from '../data';
import { Dataset, datasetFromSpec, isTensorData } from '../data';
import { isOrtTensorLike, type TensorInput } from '../tensor-data';
import { evaluateModel, type EvaluationReport, type EvaluateOptions } from '../eval';
import { canonicalJson, datasetRef, isDatasetRef, isPipelineRef, stepKind, type Recipe, type StepRecord, type DatasetRef, type PipelineRef, type RunContext, type StepContext, type StepReport, type StepResult } from '../step';
import '../passes'; // registers the pass steps, which recipes name by op
import { quantizeModeStep, type QuantizeModeOptions } from '../passes/quantize/modes';
import { pruneTargetStep } from '../passes/prune/variants';
import type { Float16Options } from '../passes/quantize/fp16';
import type { PruneStructuredOptions } from '../passes/prune/structured';
import type { PruneMagnitudeOptions } from '../passes/prune/magnitude';
import { lowRankStep, type LowRankOptions } from '../passes/low-rank';
import { distillStep, fineTuneStep, type DistillStepOptions, type FineTuneStepOptions } from '../passes/recover';
import { loadSource } from './load';
import { saveModelFile, type SaveOptions, type SaveResult } from './save';
import { summarize, type ModelSummary, type SummaryOptions } from './summary';
import { noEffectError, stepEffect, withEffectWarning } from './step-effect';
import type { PipelineServeOptions } from './serve';
import type { ServerHandle } from '../serve/server';
import { MMKIT_VERSION } from '../version';
import { inspect } from 'node:util';
import { JUPYTER_DISPLAY, type MimeBundle } from '../report';
import { evaluationView, summaryView } from './views';
import { pipelinePanel, withView } from './displays';
import { checkCompression, checkStepReport, normalizeCheckOptions, type CheckOptions, type CompressionCheck } from '../check';
import { Panel, Warning } from '../report';

/** A mode of QUANTIZE_MODES (sdk/passes/quantize/modes.ts) with its options. */
export type QuantizeOptions = QuantizeModeOptions & StepGuard;

/**
 * Magnitude pruning (unstructured or N:M, sdk/passes/prune/magnitude.ts), or with `target: 'mlp' |
 * 'heads'` structured pruning that removes whole units (sdk/passes/prune/structured.ts).
 */
export type PruneOptions = ((PruneMagnitudeOptions & { target?: undefined }) | PruneStructuredOptions) & StepGuard;

interface Loaded {
  model: OnnxModel;
  /** What this stage's step reported, then its compression check's report. */
  reports: StepReport[];
  /** The never-silently-worse check of a compression step against its input. */
  check?: CompressionCheck;
}

/**
 * How a compression step's result is checked against its input (see sdk/check): false skips the
 * check. The calibration data, when the step has some, is what the check compares on. Not part of
 * the recipe: it never changes the model.
 */
export type StepCheckOptions = false | Omit<CheckOptions, 'signal' | 'onProgress'>;

/**
 * What guards a compression step besides its options: its check, and `strict`, which makes a step
 * that changed nothing an error (NO_EFFECT) instead of a warning. Not part of the recipe.
 */
export interface StepGuard {
  check?: StepCheckOptions;
  strict?: boolean;
}

/** What `run()` takes: a tensor (single-input models), tensors by input name, or a dataset batch. */
export type PipelineRunInputs = TensorInput | Record<string, TensorInput> | Batch;
export type PipelineRunOptions = SessionOptions & { fetch?: string[] };

/** A Dataset or Pipeline given as a step option: kept live beside the JSON ref the recipe records. */
type Bound = Dataset | Pipeline;

export interface FromRecipeOptions {
  /**
   * Datasets for steps whose recipe cannot rebuild their data (made with map() or from tensors),
   * by the dataset name the recipe records (or by the option name, e.g. 'calibration').
   */
  data?: Record<string, Dataset>;
}

/**
 * A lazy, immutable chain of steps over a source model. Methods that add a step return a new
 * Pipeline; terminal methods (save, run, summary, evaluate) execute what is not cached yet.
 * Forks of one pipeline share their common prefix: each stage computes its model once.
 */
export class Pipeline {
  private result?: Promise<Loaded>;
  /** Set on the root stage once the source was read: what recipes pin and saves protect. */
  private loaded?: { sha256: string; pinnedUri: string; protect: string[] };

  private constructor(
    private readonly uri: string,
    private readonly parent: Pipeline | undefined,
    private readonly record: StepRecord | undefined,
    /** Source hash a recipe pins; checked when the source is read. */
    private readonly pinnedSha256?: string,
    /** This step's Dataset and Pipeline options, by option key. */
    private readonly bound: ReadonlyMap<string, Bound> = new Map(),
    private readonly guard: StepGuard = {},
  ) {}

  static load(src: string): Pipeline {
    if (typeof src !== 'string' || src.length === 0) {
      throw new MmkitError('BAD_OPTION', `mm.load(${JSON.stringify(src)}): expected a file path, an http(s) URL or 'hf:org/repo'.`);
    }
    return new Pipeline(src, undefined, undefined);
  }

  /** Replays a recipe; the source must hash to what the recipe recorded. */
  static fromRecipe(recipe: Recipe, opts: FromRecipeOptions = {}): Pipeline {
    let p = new Pipeline(recipe.source.uri, undefined, undefined, recipe.source.sha256);
    recipe.steps.forEach((s, i) => {
      // A recipe is JSON from outside: its settings are parsed like a user's options, now, not at run time.
      const settings = stepKind(s.op).normalize(s.options);
      const bound = new Map<string, Bound>();
      for (const [key, value] of Object.entries(settings)) {
        if (isDatasetRef(value)) bound.set(key, replayDataset(value, key, `step ${i + 1} (${s.op})`, opts));
        else if (isPipelineRef(value)) bound.set(key, Pipeline.fromRecipe(value.pipeline, opts));
      }
      p = new Pipeline(p.uri, p, { op: s.op, options: settings }, undefined, bound);
    });
    return p;
  }

  /**
   * Adds a step by name; the compression methods (prune, quantize, ...) are sugar over this.
   * (Not called `then`: that would make every pipeline a thenable that `await` tries to run.)
   */
  step<O>(op: string, options: O, guard: StepGuard = {}): Pipeline {
    const kind = stepKind(op);
    // Datasets and pipelines are not JSON: the step keeps them live and normalize sees their refs.
    const bound = new Map<string, Bound>();
    let withRefs: unknown = options;
    if (typeof options === 'object' && options !== null) {
      const copy: Record<string, unknown> = { ...(options as Record<string, unknown>) };
      for (const [key, value] of Object.entries(copy)) {
        if (value instanceof Dataset || value instanceof Pipeline) {
          bound.set(key, value);
          copy[key] = refOf(value);
        }
      }
      withRefs = copy;
    }
    const settings = kind.normalize(withRefs);
    if (guard.check !== undefined && guard.check !== false) normalizeCheckOptions(guard.check); // bad check options fail here, not after the step ran
    return new Pipeline(this.uri, this, { op, options: settings }, undefined, bound, guard);
  }

  /**
   * Quantizes the model. `mode: 'dynamic'`: int8 weights of MatMul/Gemm (and embeddings, Conv
   * weights), activations quantized at run time (sdk/passes/quantize/dynamic.ts). `mode: 'int4'`:
   * weight-only 4-bit blocks in com.microsoft MatMulNBits (sdk/passes/quantize/int4.ts). `mode:
   * 'fp16'`: float16 (sdk/passes/quantize/fp16.ts). Those files give options and defaults.
   */
  quantize(options: QuantizeOptions): Pipeline {
    const { mode, check, strict, ...rest } = options;
    return this.step(quantizeModeStep(mode).op, rest, { check, strict });
  }

  /** Same as quantize({ mode: 'fp16' }): float16 weights and compute, float32 inputs/outputs kept (sdk/passes/quantize/fp16.ts). */
  toFloat16(options: Float16Options = {}): Pipeline {
    return this.quantize({ mode: 'fp16', ...options });
  }

  /**
   * Prunes the model: by default the smallest weights are zeroed (`pattern: 'unstructured' | 'N:M'`);
   * with `target: 'mlp' | 'heads'` whole MLP hidden units or attention heads are removed, so the
   * matrices really shrink.
   */
  prune(options: PruneOptions): Pipeline {
    const { check, strict, ...rest } = options;
    return this.step(pruneTargetStep(rest.target).op, rest, { check, strict });
  }

  /** Factors linear weights into two thinner matmuls by truncated SVD where that saves work (sdk/passes/low-rank.ts). */
  lowRank(options: LowRankOptions & StepGuard): Pipeline {
    const { check, strict, ...rest } = options;
    return this.step(lowRankStep.op, rest, { check, strict });
  }

  /**
   * Trains this model (in tfjs, pruning masks fixed) to follow a teacher pipeline's outputs over
   * `data`, and optionally the labels (sdk/train/distill.ts).
   */
  distill(options: DistillStepOptions): Pipeline {
    return this.step(distillStep.op, options);
  }

  /** Trains this model on labelled `data`, pruning masks fixed (sdk/train/fine-tune.ts). */
  fineTune(options: FineTuneStepOptions): Pipeline {
    return this.step(fineTuneStep.op, options);
  }

  /** The steps of this pipeline, root first. */
  get steps(): StepRecord[] {
    const out: StepRecord[] = [];
    for (let p: Pipeline | undefined = this; p; p = p.parent) if (p.record) out.unshift(p.currentRecord());
    return out;
  }

  /** This stage's record with its refs drawn afresh (a teacher's source pin appears once it was read). */
  private currentRecord(): StepRecord {
    const record = this.record!;
    if (this.bound.size === 0) return record;
    const options = { ...record.options };
    for (const [key, value] of this.bound) options[key] = refOf(value);
    return { op: record.op, options };
  }

  /** What each step of the chain reported (realized sparsity, clamped values, ...), computing what is needed. */
  async reports(ctx: RunContext = {}): Promise<StepReport[]> {
    await this.materialize(ctx);
    return this.computedReports();
  }

  /**
   * The never-silently-worse checks of the chain's compression steps (each against its input:
   * runs in onnxruntime-node and -web, fidelity, latency, size), computing what is needed.
   */
  async checks(ctx: RunContext = {}): Promise<CompressionCheck[]> {
    await this.materialize(ctx);
    return (await this.computedStages()).flatMap((l) => (l.check ? [l.check] : []));
  }

  /** Plain JSON that mm.fromRecipe() replays. The source hash appears once the source was read. */
  get recipe(): Recipe {
    const root = this.root();
    const uri = root.loaded?.pinnedUri ?? this.uri;
    return { mmkit: MMKIT_VERSION, source: { uri, sha256: root.loaded?.sha256 ?? root.pinnedSha256 }, steps: this.steps.map((s) => ({ op: s.op, options: s.options })) };
  }

  /** The model of this stage, computing (once) whatever is not cached. */
  async model(ctx: RunContext = {}): Promise<OnnxModel> {
    return (await this.materialize(ctx)).model;
  }

  async save(file: string, opts: SaveOptions = {}): Promise<SaveResult> {
    const model = await this.model();
    const protect = this.root().loaded?.protect ?? [];
    return saveModelFile(model, file, { ...opts, recipe: opts.recipe === false ? undefined : this.recipe, protect });
  }

  /**
   * Serves this stage's model over the Open Inference Protocol (KServe v2, REST and gRPC) from this
   * process, its inference in worker threads; resolves once the model is loaded and warmed up.
   * Listens on 127.0.0.1 and free ports unless told otherwise. close() the handle to stop.
   */
  async serve(opts: PipelineServeOptions = {}): Promise<ServerHandle> {
    const name = (this.uri.split(/[\\/]/).pop() ?? 'model').replace(/\.onnx$/i, '').replace(/[^A-Za-z0-9_.-]/g, '-') || 'model';
    // Loaded on first use: the server's modules (gRPC, metrics) are not worth their load time to every import of mmkit.
    const { servePipeline } = await import('./serve.js');
    return servePipeline((file, o) => this.save(file, o), name, opts);
  }

  /**
   * Runs the model once on the given inputs: a tensor for single-input models, or a record by input
   * name; mmkit tensors or onnxruntime's own (`ort.Tensor`). Outputs are mmkit tensors, or with
   * `{ as: 'ort' }` onnxruntime-node's `Tensor`s (on the same memory).
   */
  async run(inputs: PipelineRunInputs, opts: PipelineRunOptions & { as: 'ort' }): Promise<Record<string, OrtTensor>>;
  async run(inputs: PipelineRunInputs, opts?: PipelineRunOptions & { as?: 'mmkit' }): Promise<Record<string, TensorData>>;
  async run(inputs: PipelineRunInputs, opts: PipelineRunOptions & { as?: 'mmkit' | 'ort' } = {}): Promise<Record<string, TensorData> | Record<string, OrtTensor>> {
    const { as = 'mmkit', fetch, ...sessionOptions } = opts;
    if (as !== 'mmkit' && as !== 'ort') throw new MmkitError('BAD_OPTION', `run(): as must be 'mmkit' or 'ort', got ${JSON.stringify(as)}.`);
    const single = (x: unknown): x is TensorInput => isTensorData(x) || isOrtTensorLike(x);
    const feeds = 'inputs' in inputs && !single(inputs) ? (inputs as Batch).inputs : (inputs as TensorInput | Record<string, TensorInput>);
    const session = await createSession(await this.model(), sessionOptions);
    const out = await session.run(single(feeds) ? { [session.inputNames[0]]: feeds } : feeds, { fetch });
    return as === 'ort' ? Object.fromEntries(Object.entries(out).map(([name, t]) => [name, toOrt(t)])) : out;
  }

  async summary(opts: SummaryOptions = {}): Promise<ModelSummary> {
    return withView(await summarize(await this.model(), opts), (s) => summaryView(s, { name: this.uri }));
  }

  /** Evaluates the model (accuracy, latency, size; against a baseline when given). The report carries the chain's compression checks. */
  async evaluate(data: Dataset | AsyncIterable<Batch>, opts: Omit<EvaluateOptions, 'baseline'> & { baseline?: Pipeline; device?: Device } = {}): Promise<EvaluationReport & { checks: CompressionCheck[] }> {
    const { baseline, ...rest } = opts;
    const [model, base] = await Promise.all([this.model(), baseline?.model()]);
    const checks = await this.checks();
    const report = Object.assign(await evaluateModel(model, data, { ...rest, baseline: base }), { checks });
    return withView(report, (r) => {
      const view = evaluationView(r, { name: this.label(), baselineName: baseline?.label() });
      const flags = r.checks.flatMap((c) => checkStepReport(c).warnings.map((w) => new Warning(w)));
      return flags.length ? new Panel(view.title, [...flags, ...view.parts], view.facts) : view;
    });
  }

  /** A short name for tables and charts: the source file's name and the steps' ops. */
  label(): string {
    const name = this.uri.split(/[\\/]/).pop() ?? this.uri;
    return [name, ...this.steps.map((s) => s.op)].join(' → ');
  }

  async [JUPYTER_DISPLAY](): Promise<MimeBundle> {
    return pipelinePanel(this.uri, this.steps, this.recipe, await this.computedReports())[JUPYTER_DISPLAY]();
  }

  [inspect.custom](): string {
    return this.toString();
  }

  /** Reports of the stages already computed, root first; computes nothing. */
  private async computedReports(): Promise<StepReport[]> {
    return (await this.computedStages()).flatMap((l) => l.reports);
  }

  /** The stages of the chain already computed, root first. */
  private async computedStages(): Promise<Loaded[]> {
    const out: Loaded[] = [];
    for (let p: Pipeline | undefined = this; p; p = p.parent) {
      const loaded = p.result && (await p.result.catch(() => undefined));
      if (loaded) out.unshift(loaded);
    }
    return out;
  }

  toString(): string {
    return [`Pipeline(${this.uri})`, ...this.steps.map((s) => `  .${s.op}(${canonicalJson(s.options)})`)].join('\n');
  }

  private root(): Pipeline {
    let p: Pipeline = this;
    while (p.parent) p = p.parent;
    return p;
  }

  private materialize(ctx: RunContext): Promise<Loaded> {
    if (!this.result) {
      this.result = this.compute(ctx);
      // A failed stage may be retried (the file fixed, the network back): do not cache failures.
      this.result.catch(() => {
        this.result = undefined;
      });
    }
    return this.result;
  }

  private async compute(ctx: RunContext): Promise<Loaded> {
    if (!this.parent || !this.record) {
      const { model, sha256, pinnedUri, protect } = await loadSource(this.uri);
      if (this.pinnedSha256 && this.pinnedSha256 !== sha256) {
        throw new MmkitError('BAD_RECIPE', `The recipe's source ${this.uri} has changed: sha256 ${sha256}, the recipe recorded ${this.pinnedSha256}.`, {
          file: this.uri,
          hint: 'Replay against the original model file, or remove source.sha256 from the recipe to accept the new one.',
        });
      }
      this.loaded = { sha256, pinnedUri, protect };
      return { model, reports: [] };
    }
    const input = await this.parent.materialize(ctx);
    const kind = stepKind(this.record.op);
    const out = await kind.apply(input.model, this.record.options, { ...ctx, refs: this.refs(ctx) });
    const { model: result, report } = 'proto' in out ? { model: out, report: undefined } : (out as StepResult);
    const model = derivedModel(input.model, result.proto);
    if (!kind.checked) return { model, reports: report ? [report] : [] };
    // Never silently a no-op: an unchanged model is said so, and still checked so the check shows it.
    const file = input.model.path ?? this.uri;
    const effect = stepEffect(this.record.op, file, result.proto === input.model.proto, report);
    if (effect.unchanged && this.guard.strict) throw noEffectError(this.record.op, file, effect);
    const stepReport = withEffectWarning(this.record.op, report, effect);
    const reports = stepReport ? [stepReport] : [];
    const checkOptions = this.guard.check ?? {};
    if (checkOptions === false) return { model, reports };
    const calibration = this.bound.get('calibration');
    const { minElements } = this.record.options;
    const check = await checkCompression(input.model, model, {
      data: calibration instanceof Dataset ? calibration : undefined,
      // The step's own threshold for weights it leaves float, so the check's explanations match what the step did.
      ...(typeof minElements === 'number' ? { minElements } : {}),
      ...checkOptions,
      signal: ctx.signal,
      onProgress: ctx.onProgress,
    });
    return { model, reports: [...reports, checkStepReport(check, this.record.op)], check };
  }

  private refs(ctx: RunContext): StepContext['refs'] {
    const lookup = (key: string, want: string): Bound => {
      const value = this.bound.get(key);
      if (!value) {
        throw new MmkitError('BAD_OPTION', `${this.record!.op}: option '${key}' must be ${want}.`, { hint: `Pass ${want} as { ${key}: ... }.` });
      }
      return value;
    };
    return {
      dataset: (key) => {
        const v = lookup(key, 'a Dataset (e.g. mm.datasets.mnist({ split: "train" }).take(128))');
        if (!(v instanceof Dataset)) throw new MmkitError('BAD_OPTION', `${this.record!.op}: option '${key}' is a pipeline, not a Dataset.`);
        return v;
      },
      model: (key) => {
        const v = lookup(key, "a pipeline (e.g. mm.load('teacher.onnx'))");
        if (!(v instanceof Pipeline)) throw new MmkitError('BAD_OPTION', `${this.record!.op}: option '${key}' is a Dataset, not a pipeline.`);
        return v.model(ctx);
      },
    };
  }
}

function refOf(value: Bound): DatasetRef | PipelineRef {
  if (value instanceof Pipeline) return { pipeline: value.recipe };
  return datasetRef(value);
}

function replayDataset(ref: DatasetRef, key: string, where: string, opts: FromRecipeOptions): Dataset {
  const name = ref.dataset.name;
  const given = (name !== null ? opts.data?.[name] : undefined) ?? opts.data?.[key];
  if (given) return given;
  if (ref.dataset.spec) return datasetFromSpec(ref.dataset.spec);
  throw new MmkitError('BAD_RECIPE', `Recipe ${where} used the dataset ${name ?? `given as '${key}'`}, which a recipe cannot rebuild (made with map() or from tensors).`, {
    hint: `Pass it again: mm.fromRecipe(recipe, { data: { ${JSON.stringify(name ?? key)}: dataset } }).`,
  });
}
