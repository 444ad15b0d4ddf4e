/**
 * Static int8 quantization in QDQ form: activations get QuantizeLinear → DequantizeLinear pairs
 * with scales calibrated over a dataset (sdk/calibrate), weights are stored int8 (symmetric,
 * per output channel by default) behind a DequantizeLinear, Gemm/Conv biases int32 at scale s_x·s_w.
 * onnxruntime's CPU graph transformers fuse DQ → op → Q groups into QLinearMatMul, QLinearConv,
 * QGemm, QLinearAdd, QLinearMul (QLinearSoftmax too where a Softmax sits between quantized ops).
 *
 * Choices measured on vit-tiny-mnist, batch 64, onnxruntime-node 1.30 on this 2-core AVX-512 VNNI
 * CPU (CPU time per run, one intra-op thread; fp32 = 1):
 * - A MatMul's bias Add stays its own quantized Add (QLinearMatMul + QLinearAdd with a uint8
 *   bias). An int32 bias at s_x·s_w on that Add is not fused by onnxruntime 1.30: it becomes
 *   MatMulIntegerToFloat + float Add + QuantizeLinear (24 more Q/DQ nodes), no faster (0.87).
 * - Default ops MatMul, Gemm, Conv, Add, Mul: 0.86–0.88. Adding Transpose/Reshape (int8 data
 *   kept across them) measured 0.83–0.87, Softmax 0.87–0.89, LayerNormalization 0.86–0.87, Gather
 *   0.86: within run-to-run noise, so they stay opt-in. Top-1 on the 1,996 test digits is
 *   97.95–98.05% for all of them (float 97.95%). Dynamic int8 measured 0.72–0.74 on this tiny
 *   model: its float LayerNorm/Softmax/GELU dominate, and static adds requantization steps.
 * - Asymmetric uint8 activations are the default: symmetric int8 (s8×s8 kernels) ran at 1.16–1.19,
 *   slower than float32, and the report warns about it.
 * - oww-embedding (tf2onnx: Conv, LeakyRelu, Max, MaxPool, no declared types; batch 1): 16 Conv →
 *   QLinearConv ran 0.72 ms against 1.29 ms in float32; joining LeakyRelu (QLinearLeakyRelu) and
 *   MaxPool too ran 1.30 ms, so those stay opt-in like the other non-default ops.
 * Models below opset 13 are upgraded or get per-tensor weight scales: see qdq-opset.ts.
 */
import { CALIBRATION_METHODS, calibrate, DEFAULT_PERCENTILE, type CalibrationMethod, type CalibrationTable } from '../../calibrate';
import { Dataset } from '../../data/dataset';
import { MmkitError } from '../../errors';
import { attrInt, dtypeOf, editModel, GraphView, tensorDims, weightScopes, type DType, type ModelScopes, type NodeProto, type OnnxModel, derivedModel } from '../../onnx';
import { datasetRef, isDatasetRef, registerStep, stepCoverage, type DatasetRef, type RunContext, type StepReport } from '../../step';
import { throwIfAborted } from '../../runtime/batched';
import { addActivationParams, addActivationQdq, addInt32Bias, addInt8Weight, addQuantizedConstant, type QuantNames } from './qdq-nodes';
import { activationParams, cpuNeedsReduceRange, weightQmax, type ActivationParams } from './qdq-params';
import { qdqOpset } from './qdq-opset';
import { valueTypes } from '../value-types';
import { DEFAULT_MIN_ELEMENTS } from './dynamic';
import { stringList } from '../options';
import { isExcluded, requireModelNodes } from '../layer-selection';
import { bodyLayers } from '../scope-lines';

export const QUANTIZE_STATIC_OP = 'quantize.static';

export type ActivationScheme = 'asymmetric' | 'symmetric';

export interface StaticQuantOptions {
  /** Calibration data: a Dataset (a DatasetRef once a pipeline recorded it). */
  calibration: Dataset | DatasetRef;
  /** How activation ranges are chosen (default 'minmax'; see sdk/calibrate/methods.ts). */
  method?: CalibrationMethod;
  /** For method 'percentile' (default 99.999). */
  percentile?: number;
  /** One weight scale per output channel (default true) or one per weight. */
  perChannel?: boolean;
  /** 'asymmetric' (default): uint8 activations with a zero point; 'symmetric': int8, zero point 0. */
  activations?: ActivationScheme;
  /**
   * 7-bit activations and weights, for x86 CPUs without VNNI whose u8×s8 dot products saturate.
   * 'auto' (default) decides from this CPU's flags; the recipe records the decision.
   */
  reduceRange?: boolean | 'auto';
  /** Op types to quantize (default DEFAULT_STATIC_OPS; SUPPORTED_STATIC_OPS lists the choices). */
  ops?: string[];
  /** Nodes to leave float, by name or op type. */
  exclude?: { nodes?: string[]; ops?: string[] };
  /** MatMul/Gemm/Conv layers whose weight has fewer elements stay float (default 4096, as dynamic mode). */
  minElements?: number;
  /** Calibration items used at most (default 256). */
  maxItems?: number;
}

/** Ops with int8 weights: the matmuls and convolutions. */
const WEIGHTED_OPS = ['MatMul', 'Gemm', 'Conv'];
/** Elementwise ops whose constant inputs are quantized like activations (QLinearAdd/QLinearMul take two of one type). */
const ELEMENTWISE_OPS = ['Add', 'Mul'];
/** Ops that only move or pick values: joined only when their input is quantized, and their output keeps its scale. */
const DATA_MOVEMENT_OPS = ['Transpose', 'Reshape', 'Squeeze', 'Unsqueeze', 'Flatten', 'Gather', 'Slice', 'MaxPool', 'Resize'];
/** Other ops whose float activations may be quantized in and out (constants like LayerNorm's scale stay float). */
const CALIBRATED_OPS = ['Softmax', 'LayerNormalization', 'Concat', 'Div', 'Sigmoid', 'Relu', 'Gelu', 'LeakyRelu', 'GlobalAveragePool', 'AveragePool'];

export const SUPPORTED_STATIC_OPS: readonly string[] = [...WEIGHTED_OPS, ...ELEMENTWISE_OPS, ...DATA_MOVEMENT_OPS, ...CALIBRATED_OPS];
export const DEFAULT_STATIC_OPS: readonly string[] = [...WEIGHTED_OPS, ...ELEMENTWISE_OPS];
export const DEFAULT_MAX_ITEMS = 256;
export const DEFAULT_STATIC_METHOD: CalibrationMethod = 'minmax';

function bad(message: string, hint?: string): MmkitError {
  return new MmkitError('BAD_OPTION', `${QUANTIZE_STATIC_OP}: ${message}`, { hint });
}


function checkOps(ops: string[], what: string): void {
  const unknown = ops.find((op) => !SUPPORTED_STATIC_OPS.includes(op));
  if (unknown) throw bad(`${what} lists '${unknown}', which this pass does not quantize.`, `Supported: ${SUPPORTED_STATIC_OPS.join(', ')}.`);
}

/** The options checked once: defaults explicit, 'auto' decided, the calibration data as its ref. What the recipe records and the pass reads. */
export type StaticQuantSettings = {
  calibration: DatasetRef;
  method: CalibrationMethod;
  percentile: number;
  perChannel: boolean;
  activations: ActivationScheme;
  reduceRange: boolean;
  ops: string[];
  exclude: { nodes: string[]; ops: string[] };
  minElements: number;
  maxItems: number;
};

function calibrationRef(c: unknown): DatasetRef {
  if (c instanceof Dataset) return datasetRef(c);
  if (isDatasetRef(c)) return c;
  throw bad('calibration must be a Dataset (e.g. mm.datasets.mnist({ split: "train" }).take(128)).', `Got ${c === undefined ? 'nothing' : JSON.stringify(c)}; pass the Dataset object itself.`);
}

export function normalizeStaticQuantOptions(o: StaticQuantOptions): StaticQuantSettings {
  if (typeof o !== 'object' || o === null) throw bad('options must be an object with a calibration Dataset.');
  const calibration = calibrationRef(o.calibration);
  const method = o.method ?? DEFAULT_STATIC_METHOD;
  if (!CALIBRATION_METHODS.includes(method)) throw bad(`unknown method ${JSON.stringify(method)}.`, `Use one of ${CALIBRATION_METHODS.map((m) => `'${m}'`).join(', ')}.`);
  const percentile = o.percentile ?? DEFAULT_PERCENTILE;
  if (typeof percentile !== 'number' || !(percentile > 50 && percentile <= 100)) throw bad(`percentile must be in (50, 100], got ${JSON.stringify(percentile)}.`, 'E.g. 99.99 clips the rarest 0.01% of values.');
  const perChannel = o.perChannel ?? true;
  if (typeof perChannel !== 'boolean') throw bad(`perChannel must be true or false, got ${JSON.stringify(perChannel)}.`);
  const activations = o.activations ?? 'asymmetric';
  if (activations !== 'asymmetric' && activations !== 'symmetric') throw bad(`activations ${JSON.stringify(activations)} is not supported.`, "Use 'asymmetric' (uint8) or 'symmetric' (int8).");
  const rr = o.reduceRange ?? 'auto';
  if (rr !== 'auto' && typeof rr !== 'boolean') throw bad(`reduceRange must be true, false or 'auto', got ${JSON.stringify(rr)}.`);
  const reduceRange = rr === 'auto' ? cpuNeedsReduceRange().reduceRange : rr;
  const ops = o.ops === undefined ? [...DEFAULT_STATIC_OPS] : stringList(QUANTIZE_STATIC_OP, o.ops, 'ops');
  checkOps(ops, 'ops');
  const excludeOps = stringList(QUANTIZE_STATIC_OP, o.exclude?.ops, 'exclude.ops');
  checkOps(excludeOps, 'exclude.ops');
  const minElements = o.minElements ?? DEFAULT_MIN_ELEMENTS;
  if (!(Number.isInteger(minElements) && minElements >= 0)) throw bad(`minElements must be a whole number ≥ 0, got ${JSON.stringify(minElements)}.`);
  const maxItems = o.maxItems ?? DEFAULT_MAX_ITEMS;
  if (!(Number.isInteger(maxItems) && maxItems >= 1)) throw bad(`maxItems must be a whole number ≥ 1, got ${JSON.stringify(maxItems)}.`, 'A few hundred items calibrate well.');
  return { calibration, method, percentile, perChannel, activations, reduceRange, ops, exclude: { nodes: stringList(QUANTIZE_STATIC_OP, o.exclude?.nodes, 'exclude.nodes'), ops: excludeOps }, minElements, maxItems };
}


/** A weighted node's int8 weight input: which input, and its channel axis. */
interface WeightInput {
  index: number;
  axis: number;
}

/** One node the pass quantizes and the role of each of its inputs. */
interface QuantNode {
  node: NodeProto;
  weight?: WeightInput;
  /** Input index of a constant bias that becomes int32 (Gemm C, Conv B). */
  bias?: number;
  /** Input indices of other constants, quantized like activations from their own values. */
  constants: number[];
}

/** What the pass rewrites: nodes, the activation tensors to calibrate, and tensors that inherit a scale. */
interface StaticQuantPlan {
  nodes: QuantNode[];
  /** Activations whose ranges come from calibration, in graph order. */
  calibrated: string[];
  /** Outputs of data-movement ops → the tensor whose scale they keep. */
  inherited: Map<string, string>;
  skipped: { name: string; op: string; reason: string }[];
}

/** The weight input of a MatMul/Gemm/Conv and its output-channel axis, if it is a float32 constant of the right rank. */
function weightInput(view: GraphView, n: NodeProto): WeightInput | undefined {
  const t = view.constantTensor(n.input[1]);
  if (!t || dtypeOf(t.dataType) !== 'float32') return undefined;
  const rank = t.dims.length;
  if (n.opType === 'Conv') return rank >= 3 ? { index: 1, axis: 0 } : undefined;
  if (rank !== 2) return undefined;
  if (n.opType === 'Gemm') return { index: 1, axis: attrInt(n, 'transB') === 1 ? 0 : 1 };
  return { index: 1, axis: 1 };
}

function elementCount(view: GraphView, name: string): number {
  return tensorDims(view.constantTensor(name)!).reduce((a, b) => a * b, 1);
}

function skipReason(view: GraphView, types: Map<string, DType | undefined>, n: NodeProto, s: StaticQuantSettings): string | undefined {
  if (isExcluded(s.exclude, [n.name], n.opType)) return 'excluded';
  if (n.opType === 'Gemm' && (attrInt(n, 'transA') ?? 0) !== 0) return 'Gemm with transA';
  const reads = n.input.filter((x, i) => x !== '' && !(DATA_MOVEMENT_OPS.includes(n.opType) && i > 0));
  const other = reads.find((x) => types.get(x) !== 'float32');
  if (other !== undefined) return types.get(other) ? `${types.get(other)} input` : 'input type unknown';
  if (WEIGHTED_OPS.includes(n.opType) && view.producer(n.input[1])?.opType === 'DequantizeLinear') return 'already quantized';
  if (WEIGHTED_OPS.includes(n.opType)) {
    const w = weightInput(view, n);
    if (!w && n.opType !== 'MatMul') return 'weight not a constant';
    if (w && elementCount(view, n.input[1]) < s.minElements) return 'under minElements';
  }
  if (reads.every((x) => view.constantTensor(x) !== undefined)) return 'all inputs constant';
  return undefined;
}

function plan(view: GraphView, s: StaticQuantSettings): StaticQuantPlan {
  const nodes: QuantNode[] = [];
  const activations = new Set<string>();
  const skipped: StaticQuantPlan['skipped'] = [];
  const inherited = new Map<string, string>();
  const isConstant = (x: string) => view.constantTensor(x) !== undefined;
  // Types inferred through the graph: exporters such as tf2onnx declare none of the intermediates.
  const types = valueTypes(view);
  const isFloat = (x: string) => types.get(x) === 'float32';
  for (const n of view.nodes) {
    if (n.domain !== '' || !s.ops.includes(n.opType) || DATA_MOVEMENT_OPS.includes(n.opType)) continue;
    const reason = skipReason(view, types, n, s);
    if (reason) {
      skipped.push({ name: n.name || n.output[0], op: n.opType, reason });
      continue;
    }
    const q: QuantNode = { node: n, constants: [] };
    if (WEIGHTED_OPS.includes(n.opType)) {
      q.weight = weightInput(view, n);
      if (n.input[2] && n.opType !== 'MatMul') {
        if (!isConstant(n.input[2])) {
          skipped.push({ name: n.name || n.output[0], op: n.opType, reason: 'bias not constant' });
          continue;
        }
        q.bias = 2;
      }
    }
    n.input.forEach((x, i) => {
      if (x === '' || i === q.weight?.index || i === q.bias) return;
      if (!isConstant(x)) activations.add(x);
      else if (ELEMENTWISE_OPS.includes(n.opType)) q.constants.push(i);
    });
    for (const o of n.output) if (o) activations.add(o);
    nodes.push(q);
  }
  // Data-movement ops join when their input is quantized: their output keeps the input's scale, so
  // onnxruntime can drop the Q/DQ around them and move int8 data.
  for (const n of view.nodes) {
    if (n.domain !== '' || !s.ops.includes(n.opType) || !DATA_MOVEMENT_OPS.includes(n.opType)) continue;
    const from = n.input[0];
    if (!activations.has(from) && !inherited.has(from)) continue;
    const reason = skipReason(view, types, n, s);
    if (reason) {
      skipped.push({ name: n.name || n.output[0], op: n.opType, reason });
      continue;
    }
    inherited.set(n.output[0], inherited.get(from) ?? from);
    nodes.push({ node: n, constants: [] });
  }
  for (const t of inherited.keys()) activations.delete(t);
  const calibrated = [...activations].filter(isFloat);
  return { nodes, calibrated, inherited, skipped };
}

/**
 * Values this large are attention masks (−1e4, −1e9, float32's lowest: "minus infinity" added to
 * scores), not signal: one 8-bit scale over [−1e9, 10] would round every real score to the same
 * code and flatten the softmax. Such tensors stay float (measured on CLIP-tiny's text encoder:
 * zero-shot 98.0% float, 93.2% with its mask Adds quantized).
 */
export const MASK_MAGNITUDE = 1e4;

function isMaskRange(r: { min: number; max: number }): boolean {
  return Math.max(Math.abs(r.min), Math.abs(r.max)) >= MASK_MAGNITUDE;
}

export interface StaticQuantResult {
  model: OnnxModel;
  report: StepReport;
  /** Calibrated ranges of the quantized activations. */
  ranges: CalibrationTable;
}

/**
 * The pure pass: calibrates the activations the options select over `calibration`, then writes the
 * QDQ model. The input model is not changed; untouched tensors are shared.
 */
export async function quantizeStatic(model: OnnxModel, options: StaticQuantOptions, calibration: Dataset, ctx: RunContext = {}): Promise<StaticQuantResult> {
  return staticQuantization(model, normalizeStaticQuantOptions(options), calibration, ctx);
}

/** The pass over checked settings. */
export async function staticQuantization(model: OnnxModel, s: StaticQuantSettings, calibration: Dataset, ctx: RunContext = {}): Promise<StaticQuantResult> {
  // Weights kept in Constant nodes become initializers (weightScopes); If/Loop/Scan bodies stay float (bodiesLeftFloat).
  const scopes = weightScopes(model.proto);
  // Below opset 13 the model is upgraded where the ONNX converter's rules allow, else its weights get per-tensor scales (qdq-opset.ts).
  // The main graph as weightScopes lifted it (scope 0), not lifted a second time.
  const main = scopes.scopes[0].model;
  const at = qdqOpset(main === model.proto ? model : { proto: main, path: model.path, baseDir: model.baseDir }, s.perChannel, QUANTIZE_STATIC_OP);
  const source = model;
  model = at.model;
  s = { ...s, perChannel: s.perChannel && at.perChannel };
  const view = GraphView.of(model.proto);
  requireModelNodes(QUANTIZE_STATIC_OP, 'exclude.nodes', s.exclude.nodes, model, view, 'any node the pass quantizes (e.g. "/vision/layers/0/mlp/fc1/MatMul")');
  const p = plan(view, s);
  const symmetric = s.activations === 'symmetric';
  const ranges = p.nodes.length === 0 ? new Map() : await calibrate(model, calibration, {
    tensors: p.calibrated,
    method: s.method,
    percentile: s.percentile,
    symmetric,
    maxItems: s.maxItems,
    signal: ctx.signal,
    onProgress: ctx.onProgress,
  });
  throwIfAborted(ctx.signal, 'Static quantization');
  if (p.nodes.length === 0) return { model: source, report: bodiesLeftFloat(staticQuantReport(s, p, ranges, [], at.note), scopes, s), ranges };
  const params = new Map<string, ActivationParams>();
  const masks = p.calibrated.filter((t) => isMaskRange(ranges.get(t)!));
  for (const t of p.calibrated) if (!masks.includes(t)) params.set(t, activationParams(ranges.get(t)!, symmetric, s.reduceRange));
  for (const [t, from] of p.inherited) if (params.has(from)) params.set(t, params.get(from)!);

  const proto = editModel(model.proto, (e) => {
    // Activations: every reader takes the dequantized copy (what onnxruntime's fusions look for).
    // Outputs of data-movement ops share their input's scale and zero-point initializers.
    const quantNames = new Map<string, QuantNames>();
    for (const [t, prm] of params) {
      const from = p.inherited.get(t);
      const names = from && quantNames.has(from) ? quantNames.get(from)! : addActivationParams(e, t, prm);
      quantNames.set(t, names);
      addActivationQdq(e, t, names);
    }
    const weights = new Map<string, { output: string; scales: Float32Array }>();
    const constants = new Map<string, string>();
    for (const q of p.nodes) {
      const n = q.node;
      let weightScales: Float32Array | undefined;
      if (q.weight) {
        const name = n.input[q.weight.index];
        const key = `${name}:${q.weight.axis}`; // a weight shared by several nodes is stored once
        if (!weights.has(key)) weights.set(key, addInt8Weight(e, model, name, q.weight.axis, s.perChannel, weightQmax(s.reduceRange)));
        const w = weights.get(key)!;
        e.renameInput(n, q.weight.index, w.output);
        weightScales = w.scales;
      }
      // An int32 bias needs the input's scale; a Gemm/Conv whose input stays float keeps its float bias.
      const input = params.get(n.input[0]);
      if (q.bias !== undefined && input && weightScales) e.renameInput(n, q.bias, addInt32Bias(e, model, n.input[q.bias], input.scale, weightScales));
      for (const i of q.constants) {
        const name = n.input[i];
        if (!constants.has(name)) constants.set(name, addQuantizedConstant(e, model, name, symmetric, s.reduceRange));
        e.renameInput(n, i, constants.get(name)!);
      }
    }
    e.prune();
  });
  return { model: derivedModel(model, proto), report: bodiesLeftFloat(staticQuantReport(s, p, ranges, masks, at.note), scopes, s), ranges };
}

/** The report, warning of the layers inside If/Loop/Scan bodies: the taps that calibrate see only the main graph's values. */
function bodiesLeftFloat(report: StepReport, scopes: ModelScopes, s: StaticQuantSettings): StepReport {
  const inner = bodyLayers(scopes.scopes, s.ops.filter((op) => WEIGHTED_OPS.includes(op)));
  if (inner.count === 0) return report;
  const warning = `${plural(inner.count, 'layer')} inside ${inner.owners} subgraphs left float: calibration cannot observe values there; use quantize({ mode: 'dynamic' }), which quantizes them.`;
  return { ...report, warnings: [...report.warnings, warning] };
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** What the pass did: nodes per op, calibration, what stayed float, the calibrated ranges. */
function staticQuantReport(s: StaticQuantSettings, p: StaticQuantPlan, ranges: CalibrationTable, masks: string[], opsetNote?: string): StepReport {
  const byOp = new Map<string, number>();
  for (const q of p.nodes) byOp.set(q.node.opType, (byOp.get(q.node.opType) ?? 0) + 1);
  const method = s.method === 'percentile' ? `percentile ${s.percentile}` : s.method;
  const scheme = s.activations === 'asymmetric' ? 'uint8 asymmetric' : 'int8 symmetric';
  const lines = [
    `QDQ int8: ${[...byOp].map(([op, n]) => `${n} ${op}`).join(', ') || 'nothing'} quantized; weights int8 symmetric ${s.perChannel ? 'per-channel' : 'per-tensor'}, activations ${scheme}${s.reduceRange ? ', reduced range (7 bits)' : ''}.`,
    `Calibration: ${method} over ${s.calibration.dataset.name ?? 'the calibration data'} (at most ${s.maxItems} items), ${plural(p.calibrated.length, 'activation tensor')}${p.inherited.size ? `, ${p.inherited.size} keep their input's scale` : ''}.`,
  ];
  if (opsetNote) lines.push(opsetNote);
  const skippedBy = new Map<string, number>();
  for (const x of p.skipped) skippedBy.set(`${x.op} ${x.reason}`, (skippedBy.get(`${x.op} ${x.reason}`) ?? 0) + 1);
  if (skippedBy.size) lines.push(`Left float: ${[...skippedBy].map(([k, n]) => `${n} ${k}`).join(', ')}.`);
  if (masks.length) lines.push(`Left float: ${plural(masks.length, 'activation')} with mask-like values (|x| ≥ ${MASK_MAGNITUDE}): ${masks.map((t) => `'${t}'`).join(', ')}.`);
  const warnings: string[] = [];
  if (s.activations === 'symmetric') {
    warnings.push("Symmetric int8 activations run onnxruntime's s8×s8 kernels, which measured slower than float32 on an x86 CPU (vit-tiny-mnist: 1.17×). Use activations: 'asymmetric' (uint8) for speed on x86.");
  }
  const clipped = [...ranges].filter(([, r]) => r.max < r.observed.max || r.min > r.observed.min);
  if (s.method !== 'minmax' && clipped.length) lines.push(`${method} clipped the range of ${plural(clipped.length, 'tensor')}.`);
  const constant = [...ranges].filter(([, r]) => r.max === r.min);
  for (const [t] of constant) warnings.push(`Activation '${t}' was constant over the calibration data: its scale is 1; calibrate on more varied data.`);
  const rows = [...ranges].map(([t, r]) => [t, r.observed.min, r.observed.max, r.min, r.max]);
  return {
    op: QUANTIZE_STATIC_OP,
    title: 'static int8 (QDQ)',
    lines,
    warnings,
    table: { columns: ['tensor', 'observed min', 'observed max', 'range min', 'range max'], rows },
    data: { nodes: Object.fromEntries(byOp), calibrated: p.calibrated.length, skipped: p.skipped.length, method: s.method, reduceRange: s.reduceRange },
    coverage: stepCoverage('nodes it quantizes', p.nodes.length, p.skipped.map((x) => x.reason)),
  };
}

export const quantizeStaticStep = registerStep({
  op: QUANTIZE_STATIC_OP,
  normalize: normalizeStaticQuantOptions,
  checked: true,
  async apply(model, settings, ctx) {
    const { model: out, report } = await staticQuantization(model, settings, ctx.refs.dataset('calibration'), ctx);
    return { model: out, report };
  },
});
