/**
 * Structured pruning that physically removes work: MLP hidden units (fc1 output columns + bias
 * entries, fc2 input rows) or attention heads (their q/k/v columns and biases, the output
 * projection's rows, and the block's Reshape shapes), chosen by weight norm or by activations
 * over calibration data. The result is a smaller dense model that onnxruntime runs faster.
 */
import { Dataset } from '../../data';
import { MmkitError } from '../../errors';
import { GraphView, dtypeOf, editModel, tensorElementCount, withLiftedWeights, type OnnxModel, derivedModel } from '../../onnx';
import { datasetRef, isDatasetRef, registerStep, type DatasetRef, type RunContext, type StepReport } from '../../step';
import { resizedValues, rewriteHeadShapes, sliceGroupWeights, type HeadCountEdits } from './structured-edit';
import { findPruneGroups, groupNodeNames, type PruneGroup, type PruneTarget } from './structured-groups';
import { noBlocksError, PATTERNS } from './structured-census';
import { activationScores, weightScores, type PruneScore } from './structured-scores';
import { roundKept, selectUnits } from './structured-select';

export const PRUNE_STRUCTURED_OP = 'prune.structured';

export type { PruneTarget, PruneScore };

export interface PruneStructuredOptions {
  /** 'mlp': hidden units of linear → activation → linear blocks (MatMul, Gemm, 1×1 Conv); 'heads': attention heads. */
  target: PruneTarget;
  /** Fraction of the units (MLP hidden units or heads) to remove, in [0, 1). */
  sparsity: number;
  /** 'layer' (default): every block loses the same fraction; 'global': one ranking across blocks (each keeps ≥ 1 unit). */
  scope?: 'layer' | 'global';
  /**
   * 'l2' (default) / 'l1': norm of every weight a unit owns (its producer columns and consumer rows);
   * 'activation': mean |activation| of each hidden unit, or mean L2 norm of each head's output, over `calibration`.
   */
  score?: PruneScore;
  /** Data for score 'activation': a Dataset (a DatasetRef once a pipeline recorded it). */
  calibration?: Dataset | DatasetRef;
  /** Blocks to leave whole: by the name of any of their linear nodes, or by block index (graph order, from 0). */
  exclude?: { nodes?: string[]; layers?: number[] };
  /** Kept widths (units × unit width: 1 for MLP, headDim for heads) rounded up to a multiple of this (default 1). */
  multipleOf?: number;
}

/** The options checked once, defaults explicit, calibration data as its ref: what the recipe records and the pass reads. */
export type PruneStructuredSettings = {
  target: PruneTarget;
  sparsity: number;
  scope: 'layer' | 'global';
  score: PruneScore;
  calibration: DatasetRef | null;
  exclude: { nodes: string[]; layers: number[] };
  multipleOf: number;
};

function bad(message: string, hint: string, node?: string): MmkitError {
  return new MmkitError('BAD_OPTION', `${PRUNE_STRUCTURED_OP}: ${message}`, { hint, node });
}

function calibrationRef(c: PruneStructuredOptions['calibration']): DatasetRef | null {
  if (c === undefined || c === null) return null;
  if (isDatasetRef(c)) return c;
  if (c instanceof Dataset) return datasetRef(c);
  throw bad('calibration must be a Dataset (e.g. mm.datasets.mnist({ split: "train" }).take(128)).', 'Pass the Dataset object itself.');
}

export function normalizePruneStructuredOptions(o: PruneStructuredOptions): PruneStructuredSettings {
  if (typeof o !== 'object' || o === null) throw bad('options must be an object.', "Use e.g. { target: 'mlp', sparsity: 0.5 }.");
  if (o.target !== 'mlp' && o.target !== 'heads') throw bad(`target ${JSON.stringify(o.target)} is not supported.`, "Use 'mlp' (MLP hidden units) or 'heads' (attention heads).");
  if (typeof o.sparsity !== 'number' || !(o.sparsity >= 0 && o.sparsity < 1)) {
    throw bad(`sparsity must be a fraction in [0, 1), got ${JSON.stringify(o.sparsity)}.`, 'It is the fraction of units to remove; every layer keeps at least one.');
  }
  const scope = o.scope ?? 'layer';
  if (scope !== 'layer' && scope !== 'global') throw bad(`scope ${JSON.stringify(scope)} is not supported.`, "Use 'layer' or 'global'.");
  const score = o.score ?? 'l2';
  if (!['l1', 'l2', 'activation'].includes(score)) throw bad(`score ${JSON.stringify(score)} is not supported.`, "Use 'l1', 'l2' or 'activation' (with calibration data).");
  const calibration = calibrationRef(o.calibration);
  if (score === 'activation' && !calibration) {
    throw bad("score 'activation' needs calibration data: calibration must be a Dataset.", 'Pass calibration: mm.datasets.mnist({ split: "train" }).take(128), or use score "l2".');
  }
  const multipleOf = o.multipleOf ?? 1;
  if (!Number.isInteger(multipleOf) || multipleOf < 1) throw bad(`multipleOf must be a whole number ≥ 1, got ${JSON.stringify(multipleOf)}.`, 'Use e.g. 8 to keep widths friendly to fast kernels.');
  const nodes = o.exclude?.nodes ?? [];
  const layers = o.exclude?.layers ?? [];
  if (!Array.isArray(nodes) || nodes.some((x) => typeof x !== 'string')) throw bad('exclude.nodes must be a list of node names.', 'E.g. ["/vision/layers/0/mlp/fc1/MatMul"].');
  if (!Array.isArray(layers) || layers.some((x) => !Number.isInteger(x) || x < 0)) throw bad('exclude.layers must be a list of block indices (0, 1, ...).', 'Blocks are numbered in graph order from 0.');
  return { target: o.target, sparsity: o.sparsity, scope, score, calibration, exclude: { nodes: [...nodes], layers: [...layers] }, multipleOf };
}


/** The groups the options leave to prune; unknown exclusions and impossible widths are BAD_OPTIONs naming them. */
function prunableGroups(model: OnnxModel, s: PruneStructuredSettings): { groups: PruneGroup[]; excluded: LeftWhole[] } {
  const view = GraphView.of(model.proto);
  const all = findPruneGroups(view, s.target);
  if (all.length === 0) throw noBlocksError(PRUNE_STRUCTURED_OP, model, view, s.target);
  const what = PATTERNS[s.target].blocks;
  const listing = all.map((g) => `${g.index}: '${g.name}'`).join(', ');
  for (const i of s.exclude.layers) if (i >= all.length) throw bad(`exclude.layers names layer ${i}, but the model has ${all.length} ${what} (${listing}).`, `Use indices 0 to ${all.length - 1}.`);
  const names = new Map(all.flatMap((g) => groupNodeNames(g).map((n) => [n, g] as const)));
  for (const n of s.exclude.nodes) {
    if (!names.has(n)) throw bad(`exclude.nodes names '${n}', which is no linear node of the model's ${what}.`, `Name a MatMul/Gemm of a block (${listing}), or use exclude.layers.`, n);
  }
  const excludedSet = new Set([...s.exclude.layers.map((i) => all[i]), ...s.exclude.nodes.map((n) => names.get(n)!)]);
  const otherType = (g: PruneGroup) => [...g.producers, g.consumer].map((m) => dtypeOf(view.initializer(m.weight)!.dataType)).find((d) => d !== 'float32');
  const excluded = all.flatMap((g): LeftWhole[] => (excludedSet.has(g) ? [{ group: g, reason: 'excluded' }] : otherType(g) ? [{ group: g, reason: `${otherType(g)} weights` }] : []));
  const groups = all.filter((g) => !excluded.some((x) => x.group === g));
  for (const g of groups) {
    // A single-unit block simply stays; a multipleOf as wide as the block is a mistake.
    if (s.multipleOf > 1 && s.sparsity > 0 && roundKept(g, 1, s.multipleOf) >= g.units) {
      throw bad(
        `multipleOf ${s.multipleOf} leaves nothing to remove in layer '${g.name}' (${g.units} ${s.target === 'mlp' ? 'hidden units' : `heads of ${g.unitWidth}`}).`,
        `Use a multipleOf that divides its width ${g.units * g.unitWidth} at least twice, or exclude the layer (exclude.layers: [${g.index}]).`,
        g.consumer.matmul.name,
      );
    }
  }
  return { groups, excluded };
}

/** A block the options or its weights' type keep whole. */
interface LeftWhole {
  group: PruneGroup;
  reason: string;
}

function groupParams(g: PruneGroup, kept: number): number {
  const width = kept * g.unitWidth;
  const producers = g.producers.reduce((n, m) => n + (m.inDim + (m.bias ? 1 : 0)) * width * g.sections, 0);
  return producers + width * g.consumer.outDim;
}

function modelParams(model: OnnxModel): number {
  return GraphView.of(model.proto).initializers.reduce((n, t) => n + tensorElementCount(t), 0);
}

export interface PruneStructuredLayer {
  index: number;
  name: string;
  units: number;
  kept: number[];
  paramsBefore: number;
  paramsAfter: number;
}

export interface PruneStructuredResult {
  model: OnnxModel;
  report: StepReport;
  /** Per pruned block: the unit indices kept and the parameters of its linears before and after. */
  layers: PruneStructuredLayer[];
}

function buildReport(s: PruneStructuredSettings, layers: PruneStructuredLayer[], excluded: LeftWhole[], before: number, after: number): StepReport {
  const unit = s.target === 'mlp' ? 'hidden units' : 'heads';
  const units = layers.reduce((n, l) => n + l.units, 0);
  const kept = layers.reduce((n, l) => n + l.kept.length, 0);
  return {
    op: PRUNE_STRUCTURED_OP,
    title: `Structured pruning of ${unit} (${s.score} scores, ${s.scope} scope)`,
    lines: [
      `Removed ${units - kept} of ${units} ${unit} (${(((units - kept) / Math.max(1, units)) * 100).toFixed(1)}%) across ${layers.length} blocks; requested sparsity ${s.sparsity}.`,
      `Parameters: ${before} → ${after} (${((after / before) * 100).toFixed(1)}% of the input model).`,
    ],
    warnings: excluded.map((x) => `Layer ${x.group.index} '${x.group.name}' left whole (${x.reason}).`),
    table: {
      columns: ['layer', 'name', s.target === 'mlp' ? 'units' : 'heads', 'kept', 'removed', 'params before', 'params after'],
      rows: layers.map((l) => [l.index, l.name, l.units, l.kept.length, l.units - l.kept.length, l.paramsBefore, l.paramsAfter]),
    },
    data: { paramsBefore: before, paramsAfter: after, kept: Object.fromEntries(layers.map((l) => [l.name, l.kept])) },
  };
}

/**
 * The pure pass: a new model with the chosen units removed (the input is not changed). Score
 * 'activation' runs the model over `calibration` (or options.calibration when it is a Dataset).
 */
export async function pruneStructured(model: OnnxModel, options: PruneStructuredOptions, calibration?: Dataset, ctx: RunContext = {}): Promise<PruneStructuredResult> {
  const data = calibration ?? (options.calibration instanceof Dataset ? options.calibration : undefined);
  return structuredPruning(model, normalizePruneStructuredOptions(options), data, ctx);
}

/** The pass over checked settings; score 'activation' runs the model over `calibration`. */
export async function structuredPruning(model: OnnxModel, s: PruneStructuredSettings, calibration?: Dataset, ctx: RunContext = {}): Promise<PruneStructuredResult> {
  model = withLiftedWeights(model); // weights kept in Constant nodes (paddle2onnx, tf2onnx) become initializers
  const { groups, excluded } = prunableGroups(model, s);
  const view = GraphView.of(model.proto);
  let scores: Float64Array[];
  if (s.score === 'activation') {
    if (!calibration) throw bad("score 'activation' needs the calibration Dataset itself.", 'Pass it as options.calibration or as the third argument of pruneStructured.');
    scores = await activationScores(model, groups, calibration, ctx);
  } else {
    scores = groups.map((g) => weightScores(view, model, g, s.score as 'l1' | 'l2'));
  }
  const kept = selectUnits(groups, scores, s);
  const headCounts: HeadCountEdits = new Map();
  const proto = editModel(model.proto, (e) => {
    const resized = new Set<string>();
    groups.forEach((g, k) => {
      if (ctx.signal?.aborted) throw new MmkitError('CANCELLED', `${PRUNE_STRUCTURED_OP} was cancelled at layer '${g.name}'.`, { node: g.consumer.matmul.name });
      if (kept[k].length === g.units) return;
      sliceGroupWeights(e, model, g, kept[k]);
      if (g.target === 'heads') rewriteHeadShapes(e, g, kept[k].length, headCounts);
      for (const v of resizedValues(view, g)) resized.add(v);
      ctx.onProgress?.(k + 1, groups.length, PRUNE_STRUCTURED_OP);
    });
    // Declared shapes of resized values are stale; onnxruntime infers them again.
    const keep = e.valueInfos.filter((v) => !resized.has(v.name));
    e.valueInfos.splice(0, e.valueInfos.length, ...keep);
    e.prune();
  });
  const result: OnnxModel = derivedModel(model, proto);
  const layers = groups.map((g, k) => ({ index: g.index, name: g.name, units: g.units, kept: kept[k], paramsBefore: groupParams(g, g.units), paramsAfter: groupParams(g, kept[k].length) }));
  return { model: result, report: buildReport(s, layers, excluded, modelParams(model), modelParams(result)), layers };
}

export const pruneStructuredStep = registerStep({
  op: PRUNE_STRUCTURED_OP,
  normalize: normalizePruneStructuredOptions,
  async apply(model, settings, ctx) {
    const calibration = settings.score === 'activation' ? ctx.refs.dataset('calibration') : undefined;
    const { model: pruned, report } = await structuredPruning(model, settings, calibration, ctx);
    return { model: pruned, report };
  },
  checked: true,
});
