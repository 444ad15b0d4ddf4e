/**
 * float16 conversion: float32 initializers and constants are stored as float16 and the nodes that
 * compute on them run in float16, except op types and nodes on a block list, which stay float32.
 * A Cast is inserted exactly where a float32 value meets a float16 node or the other way round
 * (one per value and direction, never a Cast back and forth), declared types (value_info, graph
 * inputs and outputs) are updated with the values, and by default the graph keeps its float32
 * inputs and outputs with a Cast at each boundary, so callers feed and read what they did before.
 * Values float16 cannot hold are clamped (|x| > 65504 → ±65504) or flushed (|x| < 2^-24 → 0), and
 * the report lists every tensor where that happened.
 *
 * Speed: onnxruntime-node 1.30's CPU provider has float16 kernels for LayerNormalization and data
 * movement only and wraps every other float16 node in Casts to compute it in float32, so on CPU a
 * float16 model is half the size but slower (vit-tiny-mnist, batch 64, best of 3 rounds here:
 * 8.2 ms against 6.4 ms in float32). The report says so.
 */
import { MmkitError } from '../../errors';
import {
  DataType,
  GraphView,
  dtypeOf,
  editModel,
  makeTensor,
  makeValueInfo,
  node,
  nodeReads,
  readValueType,
  shallowCopy,
  tensorArray,
  tensorDims,
  type DType,
  type GraphEditor,
  type ModelProto,
  type NodeProto,
  type OnnxModel,
  type TensorProto,
  type ValueInfoProto,
  derivedModel,
  weightScopes,
} from '../../onnx';
import { registerStep, type StepReport } from '../../step';
import { throwIfAborted } from '../../runtime/batched';
import { valueTypes } from '../value-types';
import { FLOAT16_MAX, toHalf } from './fp16-values';
import { constantValue, outOfRangeValues, type WideValue } from './fp16-range';
import { stringList } from '../options';
import { isExcluded, requireModelNodes } from '../layer-selection';
import { bodiesLine } from '../scope-lines';

export const QUANTIZE_FP16_OP = 'quantize.fp16';

export interface Float16Options {
  /**
   * Keep float32 graph inputs and outputs, with a Cast at each boundary (default true). false: float
   * inputs become float16, and so do the outputs computed in float16.
   */
  keepIoTypes?: boolean;
  /** Nodes (by name) and op types that stay float32, on top of FP16_DEFAULT_BLOCKED_OPS. */
  block?: { nodes?: string[]; ops?: string[] };
  /**
   * A float32 constant beyond float16's ±65504: 'float32' (default) keeps the ops reading it in
   * float32, with Casts around them; 'clamp' stores it clamped to ±65504 (every op float16, as for a
   * GPU backend where the change of value is acceptable), and the report counts the values clamped.
   */
  outOfRange?: 'float32' | 'clamp';
}

/**
 * Op types that stay float32 by default: none, by measurement with onnxruntime 1.30 (node CPU and
 * web wasm, this x64 CPU). Its CPU provider has float16 kernels only for LayerNormalization and
 * data movement (Transpose, ...); for every other op (MatMul, Conv, Add, Softmax, Erf, Exp,
 * ReduceL2, Pow, ...) onnxruntime itself wraps the node in Casts and computes in float32. Its
 * float16 LayerNormalization accumulates in float32: max error 4.9e-4 (the output's rounding)
 * even for |x| ≈ 3000, where float16 sums of squares would overflow. On vit-tiny-mnist and
 * CLIP-tiny, blocking LayerNormalization, Softmax or Erf changed neither top-1 (97.95% both) nor
 * zero-shot (98.0%), and each blocked LayerNormalization cost two extra Casts. Block ops for a
 * backend with real float16 kernels (WebGPU, CUDA) through `block.ops`.
 */
export const FP16_DEFAULT_BLOCKED_OPS: readonly string[] = [];

// Ops with float16 kernels in onnxruntime whose float inputs and outputs share one type.
const COMPUTE_OPS = new Set([
  'Abs', 'Add', 'AveragePool', 'BatchNormalization', 'Ceil', 'Clip', 'Conv', 'Cos', 'Div', 'Einsum', 'Elu', 'Equal', 'Erf', 'Exp', 'Floor', 'Gelu', 'Gemm',
  'GlobalAveragePool', 'GlobalMaxPool', 'Greater', 'GreaterOrEqual', 'HardSigmoid', 'InstanceNormalization', 'LayerNormalization', 'LeakyRelu', 'Less',
  'LessOrEqual', 'Log', 'LogSoftmax', 'MatMul', 'Max', 'MaxPool', 'Mean', 'Min', 'Mul', 'Neg', 'Pow', 'Reciprocal', 'ReduceL1', 'ReduceL2', 'ReduceLogSumExp',
  'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceProd', 'ReduceSum', 'ReduceSumSquare', 'Relu', 'Round', 'Sigmoid', 'Sign', 'Sin', 'Softmax', 'Softplus',
  'Sqrt', 'Sub', 'Sum', 'Tanh', 'Where',
]);
// Ops that only move data (and Cast): float16 when their float inputs already are, so a lone
// Reshape between two float32 regions does not cost a Cast pair.
const MOVEMENT_OPS = new Set(['Cast', 'Concat', 'Expand', 'Flatten', 'Gather', 'Identity', 'Pad', 'Reshape', 'Slice', 'Split', 'Squeeze', 'Tile', 'Transpose', 'Unsqueeze']);
// Readers of a value's shape only: they read whichever type the value has.
const SHAPE_READERS = new Set(['Shape', 'Size']);



/**
 * The options checked once, the effective block list spelled out: what the recipe records and the
 * pass reads. outOfRange is recorded only when 'clamp', so recipes written before it replay as they were.
 */
export type Float16Settings = {
  keepIoTypes: boolean;
  block: { nodes: string[]; ops: string[] };
  outOfRange?: 'clamp';
};

export function normalizeFloat16Options(o: Float16Options = {}): Float16Settings {
  const keepIoTypes = o.keepIoTypes ?? true;
  if (typeof keepIoTypes !== 'boolean') throw new MmkitError('BAD_OPTION', `quantize.fp16: keepIoTypes must be true or false, got ${JSON.stringify(keepIoTypes)}.`);
  const ops = [...new Set([...FP16_DEFAULT_BLOCKED_OPS, ...stringList(QUANTIZE_FP16_OP, o.block?.ops, 'block.ops')])];
  const outOfRange = o.outOfRange ?? 'float32';
  if (outOfRange !== 'float32' && outOfRange !== 'clamp') throw new MmkitError('BAD_OPTION', `quantize.fp16: outOfRange must be 'float32' or 'clamp', got ${JSON.stringify(outOfRange)}.`);
  return { keepIoTypes, block: { nodes: stringList(QUANTIZE_FP16_OP, o.block?.nodes, 'block.nodes'), ops }, ...(outOfRange === 'clamp' ? { outOfRange } : {}) };
}


/** A tensor whose values did not all fit float16. */
export interface ClampedTensor {
  tensor: string;
  elements: number;
  clamped: number;
  flushed: number;
  maxAbs: number;
}

/** Why a node that computes on float32 stayed float32. */
type KeptReason = 'blocked' | 'unsupported op' | 'unknown types' | 'read by a subgraph' | 'reads a value beyond ±65504';

interface Plan {
  types: Map<string, DType | undefined>;
  half: Set<NodeProto>;
  kept: Map<NodeProto, KeptReason>;
  /** Values beyond float16's range, kept float32 with the ops that read them. */
  wide: Map<string, WideValue>;
  /** float32 values that are stored float16 in the result (under their own name unless renamed). */
  stored16: Set<string>;
}

const isHalfCandidate = (n: NodeProto) => n.domain === '' && (COMPUTE_OPS.has(n.opType) || MOVEMENT_OPS.has(n.opType));
const hasSubgraph = (n: NodeProto) => n.attribute.some((a) => a.g !== undefined || a.graphs.length > 0);

/** Which nodes run in float16 and which float32 values end up stored as float16. */
function plan(view: GraphView, s: Float16Settings, model: OnnxModel): Plan {
  const types = valueTypes(view);
  const isFloat = (v: string) => v !== '' && types.get(v) === 'float32';
  const wide = s.outOfRange === 'clamp' ? new Map<string, WideValue>() : outOfRangeValues(view, model, isFloat, MOVEMENT_OPS);
  // Values a subgraph reads from outside (implicit inputs of If/Loop/Scan) must stay float32.
  const implicit = new Set(view.nodes.filter(hasSubgraph).flatMap((n) => nodeReads(n).filter((x) => !n.input.includes(x))));
  const half = new Set<NodeProto>();
  const kept = new Map<NodeProto, KeptReason>();
  const sourcedFloat32 = (v: string) => {
    const p = view.producer(v);
    if (p) return p.opType !== 'Constant' && !half.has(p);
    return !view.isInitializer(v) && s.keepIoTypes;
  };
  for (const n of view.nodes) {
    const touchesFloat = [...n.input, ...n.output].some(isFloat);
    if (!touchesFloat || n.opType === 'Constant' || SHAPE_READERS.has(n.opType)) continue;
    if (isExcluded(s.block, [n.name], n.opType)) kept.set(n, 'blocked');
    else if (hasSubgraph(n)) continue; // an If/Loop/Scan: its bodies are converted as graphs of their own
    else if (!isHalfCandidate(n)) kept.set(n, 'unsupported op');
    else if ([...n.input, ...n.output].some((v) => v !== '' && types.get(v) === undefined)) kept.set(n, 'unknown types');
    else if (n.output.some((o) => implicit.has(o))) kept.set(n, 'read by a subgraph');
    else if (n.input.some((x) => wide.has(x))) {
      if (!MOVEMENT_OPS.has(n.opType)) kept.set(n, 'reads a value beyond ±65504'); // data movement passes it on, in float32
    }
    else if (MOVEMENT_OPS.has(n.opType) && n.input.filter(isFloat).some(sourcedFloat32)) continue; // follows its float32 input
    else if (MOVEMENT_OPS.has(n.opType) && s.keepIoTypes && n.output.every((o) => view.isGraphOutput(o))) continue; // feeds a float32 output as it is
    else half.add(n);
  }
  const stored16 = new Set<string>();
  for (const n of half) {
    const outputs = n.opType === 'LayerNormalization' ? n.output.slice(0, 1) : n.output;
    for (const o of outputs) if (isFloat(o)) stored16.add(o);
  }
  // Constants (initializers, Constant nodes) go float16 when every reader computes in float16.
  const constants = [...view.initializers.map((t) => t.name), ...view.nodes.filter((n) => n.opType === 'Constant').map((n) => n.output[0])];
  for (const c of constants) {
    const readers = view.consumers(c).filter((r) => !SHAPE_READERS.has(r.opType));
    if (isFloat(c) && readers.length > 0 && readers.every((r) => half.has(r)) && !view.isGraphOutput(c) && !implicit.has(c)) stored16.add(c);
  }
  return { types, half, kept, wide, stored16 };
}

/** The float16 copy of a float32 tensor, with what did not fit counted. */
function halfTensor(name: string, t: TensorProto, model: OnnxModel, clamped: ClampedTensor[]): TensorProto {
  const values = tensorArray(t, model) as Float32Array;
  const h = toHalf(values);
  if (h.clamped + h.flushed > 0) clamped.push({ tensor: name, elements: values.length, clamped: h.clamped, flushed: h.flushed, maxAbs: h.maxAbs });
  return makeTensor(name, 'float16', tensorDims(t), h.bits);
}

function retype(v: ValueInfoProto, dtype: DType): ValueInfoProto {
  return makeValueInfo(v.name, dtype, readValueType(v.type).shape);
}

export interface Float16Result {
  model: OnnxModel;
  report: StepReport;
}

/**
 * Converts a model to float16 (a new model; the input is not changed). Returns the model and a
 * report of what ran in float16, what stayed float32 and why, the Casts added and every tensor
 * whose values were clamped or flushed.
 */
export function toFloat16(model: OnnxModel, options: Float16Options = {}): Float16Result {
  return float16Conversion(model, normalizeFloat16Options(options));
}

/**
 * The conversion over checked settings, of the main graph and of every If/Loop/Scan body. A body
 * keeps float32 at its boundaries (its outputs are the types its holding node declares).
 */
export function float16Conversion(model: OnnxModel, s: Float16Settings): Float16Result {
  const scopes = weightScopes(model.proto);
  const views = scopes.scopes.map((scope) => GraphView.of(scope.model));
  requireModelNodes(QUANTIZE_FP16_OP, 'block.nodes', s.block.nodes, model, { nodes: views.flatMap((v) => v.nodes) }, 'any node (e.g. "/encoder/layer.0/attention/Softmax")');
  const graphs = scopes.scopes.map((scope, i) => convertGraph(derivedModel(model, scope.model), views[i], i === 0 ? s : { ...s, keepIoTypes: true }));
  const proto = scopes.map((_, i) => graphs[i].proto);
  const p = mergePlans(graphs.map((g) => g.plan));
  const casts = graphs.reduce((n, g) => n + g.casts, 0);
  const halfWeights = graphs.flatMap((g, i) => views[i].initializers.filter((t) => g.plan.stored16.has(t.name)));
  const report = buildReport(halfWeights, p, casts, graphs.flatMap((g) => g.clamped));
  const inBodies = bodiesLine(scopes.scopes, graphs.map((g) => g.plan.half.size), 'float16 nodes are');
  if (inBodies) report.lines.splice(1, 0, inBodies);
  return { model: derivedModel(model, proto), report };
}

/** What one graph's conversion did. */
interface GraphConversion {
  proto: ModelProto;
  plan: Plan;
  casts: number;
  clamped: ClampedTensor[];
}

/** The plans of several graphs as one, for the report. */
function mergePlans(plans: Plan[]): Plan {
  return {
    types: new Map(plans.flatMap((p) => [...p.types])),
    half: new Set(plans.flatMap((p) => [...p.half])),
    kept: new Map(plans.flatMap((p) => [...p.kept])),
    wide: new Map(plans.flatMap((p) => [...p.wide])),
    stored16: new Set(plans.flatMap((p) => [...p.stored16])),
  };
}

/** One graph converted; its own model when it has nothing float32 to convert. */
function convertGraph(model: OnnxModel, view: GraphView, s: Float16Settings): GraphConversion {
  const p = plan(view, s, model);
  const floatInputs = !s.keepIoTypes && view.inputs.some((i) => p.types.get(i.name) === 'float32');
  if (p.half.size === 0 && p.stored16.size === 0 && !floatInputs) return { proto: model.proto, plan: p, casts: 0, clamped: [] }; // nothing float32 to convert
  const clamped: ClampedTensor[] = [];
  let casts = 0;
  const proto = editModel(model.proto, (e) => {
    const isFloat = (v: string) => v !== '' && p.types.get(v) === 'float32';
    // Graph outputs computed in float16 keep their name (and float32 type) on a Cast; the float16 value is renamed.
    const renamed = new Map<string, string>();
    if (s.keepIoTypes) for (const o of view.outputs) if (p.stored16.has(o.name) && view.producer(o.name)) renamed.set(o.name, e.uniqueName(`${o.name}_fp16`));
    const inputs16 = !s.keepIoTypes ? new Set(view.inputs.filter((i) => isFloat(i.name)).map((i) => i.name)) : new Set<string>();
    const isStored16 = (v: string) => p.stored16.has(v) || inputs16.has(v);
    const made = new Map<string, string>();
    const cast = (v: string, to: 'float16' | 'float32', before: NodeProto): string => {
      const key = `${to}:${v}`;
      let out = made.get(key);
      if (!out) {
        out = e.uniqueName(`${v}_${to === 'float16' ? 'fp16' : 'fp32'}`);
        e.addNode(node('Cast', [v], [out], { to: { i: to === 'float16' ? DataType.FLOAT16 : DataType.FLOAT } }, { name: e.uniqueName(`${out}_Cast`) }), { before });
        made.set(key, out);
        casts++;
      }
      return out;
    };
    const name16 = (v: string, reader: NodeProto) => (isStored16(v) ? (renamed.get(v) ?? v) : cast(v, 'float16', reader));
    const name32 = (v: string, reader: NodeProto) => (!isStored16(v) || renamed.has(v) ? v : cast(v, 'float32', reader));

    for (const n of view.nodes) {
      if (p.half.has(n)) {
        const input = n.input.map((x) => (isFloat(x) ? name16(x, n) : x));
        const output = n.output.map((o) => renamed.get(o) ?? o);
        let attribute = n.attribute;
        if (n.opType === 'Cast' && isFloat(n.output[0])) attribute = [...node('Cast', [], [], { to: { i: DataType.FLOAT16 } }).attribute];
        e.replaceNode(n, shallowCopy(n, { input, output, attribute }));
      } else if (n.opType === 'Constant' && p.stored16.has(n.output[0])) {
        e.replaceNode(n, node('Constant', [], [n.output[0]], { value: { t: halfTensor(n.output[0], constantValue(n)!, model, clamped) } }, { name: n.name }));
      } else {
        // float32 readers (and shape readers, which take either type) of values now stored float16.
        const shapeOnly = SHAPE_READERS.has(n.opType);
        const input = n.input.map((x) => (isFloat(x) && isStored16(x) ? (shapeOnly ? (renamed.get(x) ?? x) : name32(x, n)) : x));
        if (input.some((x, i) => x !== n.input[i])) e.replaceNode(n, shallowCopy(n, { input }));
      }
    }
    for (const t of view.initializers) if (p.stored16.has(t.name)) e.replaceInitializer(t.name, halfTensor(t.name, t, model, clamped));
    for (const [v, fp16] of renamed) {
      e.addNode(node('Cast', [fp16], [v], { to: { i: DataType.FLOAT } }, { name: e.uniqueName(`${v}_Cast`) }));
      casts++;
    }
    // Declared types follow the values: float16 where a value is now stored as float16 under its own name.
    const storedAsHalf = (name: string) => isStored16(name) && !renamed.has(name);
    const update = (list: ValueInfoProto[]) => list.forEach((v, i) => storedAsHalf(v.name) && (list[i] = retype(v, 'float16')));
    update(e.valueInfos);
    update(e.graphOutputs);
    update(e.graphInputs);
  });
  return { proto, plan: p, casts, clamped };
}

function buildReport(halfWeights: readonly TensorProto[], p: Plan, casts: number, clamped: ClampedTensor[]): StepReport {
  const keptBy = new Map<string, number>();
  for (const [n, reason] of p.kept) keptBy.set(`${n.opType} (${reason})`, (keptBy.get(`${n.opType} (${reason})`) ?? 0) + 1);
  const keptText = [...keptBy].map(([k, c]) => `${c}× ${k}`).join(', ');
  const floatNodes = p.half.size + p.kept.size;
  const halfElements = halfWeights.reduce((a, t) => a + tensorDims(t).reduce((x, d) => x * d, 1), 0);
  const lines = [
    `${p.half.size} of ${floatNodes} float nodes run in float16${p.kept.size ? `; float32 kept: ${keptText}` : ''}.`,
    `${halfWeights.length} initializers (${halfElements} values) stored as float16; ${casts} Cast nodes at float32/float16 boundaries.`,
    'On CPU, onnxruntime computes most float16 ops in float32 behind Casts of its own: expect half the file, not a speed-up (float16 pays off on GPU backends).',
  ];
  const range = rangeKept(p);
  if (range.length) {
    const named = range.slice(0, 5).map((r) => `${r.op} '${r.node}' reads '${r.tensor}' (max |x| ${r.maxAbs.toExponential(2)})`);
    lines.push(`Kept float32 because float16 cannot hold a constant beyond ±${FLOAT16_MAX}: ${named.join(', ')}${range.length > 5 ? ` and ${range.length - 5} more` : ''}.`);
  }
  const warnings = clamped.map(
    (c) =>
      `${c.tensor}: ${c.clamped ? `${c.clamped} of ${c.elements} values beyond ±${FLOAT16_MAX} clamped (max |x| ${c.maxAbs.toExponential(3)})` : ''}` +
      `${c.clamped && c.flushed ? '; ' : ''}${c.flushed ? `${c.flushed} of ${c.elements} nonzero values below 2^-24 flushed to 0` : ''}.`,
  );
  return {
    op: QUANTIZE_FP16_OP,
    title: 'float16',
    lines,
    warnings,
    table: clamped.length ? { columns: ['tensor', 'elements', 'clamped', 'flushed', 'max |x|'], rows: clamped.map((c) => [c.tensor, c.elements, c.clamped, c.flushed, c.maxAbs]) } : undefined,
    data: { halfNodes: p.half.size, keptNodes: p.kept.size, casts, clamped: clamped.map((c) => ({ ...c })), outOfRange: range },
  };
}

/** The nodes kept float32 for an out-of-range input, with the constant it comes from. */
function rangeKept(p: Plan): { node: string; op: string; tensor: string; maxAbs: number }[] {
  return [...p.kept]
    .filter(([, reason]) => reason === 'reads a value beyond ±65504')
    .map(([n]) => ({ node: n.name || n.output[0], op: n.opType, ...p.wide.get(n.input.find((x) => p.wide.has(x))!)! }));
}

export const quantizeFloat16Step = registerStep({
  op: QUANTIZE_FP16_OP,
  normalize: normalizeFloat16Options,
  checked: true,
  async apply(model, settings, ctx) {
    throwIfAborted(ctx.signal, 'float16 conversion');
    return float16Conversion(model, settings);
  },
});
