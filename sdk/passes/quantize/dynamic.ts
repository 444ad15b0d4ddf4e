/**
 * Dynamic int8 quantization of linear layers (MatMul with a constant weight, + bias Add; Gemm):
 * weights are stored int8 with float scales, activations are quantized by onnxruntime at run
 * time. Graph inputs and outputs stay float32. Embedding tables (Gather) are stored int8 too
 * (gather.ts) and Conv weights by the `conv` option (conv.ts), so that no big
 * float tensor is left behind.
 *
 * Two graph forms:
 * - 'com.microsoft' (default): one DynamicQuantizeMatMul node per linear (A float, B int8,
 *   b_scale, bias), onnxruntime's fused CPU kernel.
 * - 'qdq-integer': standard ONNX only, DynamicQuantizeLinear → MatMulInteger → Cast → Mul (→ Add),
 *   for runtimes without the contrib ops.
 * They run equally fast in onnxruntime: it fuses the standard form at load time into the same
 * kernels (MatMulIntegerToFloat / DynamicQuantizeMatMul). Measured by `npm run bench -- quantize`
 * on the ViT-B/16-shaped model, batch 8, best of 3 rounds: 544 ms vs 529 ms (ratio 0.97). The
 * default keeps the smaller graph, one node per linear.
 */
import { MmkitError } from '../../errors';
import { editModel, findConvs, findLinears, GraphView, makeTensor, node, tensorArray, dtypeOf, weightScopes, type ConvMatch, type GraphEditor, type LinearMatch, type ModelProto, type ModelScopes, type OnnxModel, derivedModel } from '../../onnx';
import { registerStep, stepCoverage, type StepReport } from '../../step';
import { throwIfAborted } from '../../runtime/batched';
import { quantizeWeight, transposeWeight, type QuantizedWeight } from './weights';
import { dequantizesPerChannel } from './dequantize';
import { QDQ_OPSET } from './qdq-opset';
import { CONV_MODES, convElements, quantizeConvInteger, quantizeConvWeightOnly, type ConvQuantMode } from './conv';
import { findEmbeddings, quantizeEmbedding, type EmbeddingMatch } from './gather';
import { stringList } from '../options';
import { keepsOwnType, layerSkip, requireModelNodes, type LayerSkipReason } from '../layer-selection';
import { bodiesLine } from '../scope-lines';

export type { ConvQuantMode } from './conv';

export type DynamicQuantFormat = 'com.microsoft' | 'qdq-integer';

export interface DynamicQuantOptions {
  /**
   * One scale per output channel (default true); false: one scale per weight tensor. For
   * embedding tables: one scale per row (token) or one per table.
   */
  perChannel?: boolean;
  format?: DynamicQuantFormat;
  /**
   * Store float embedding tables (initializers read only by Gather, e.g. CLIP's token
   * embedding) as int8 (default true): otherwise they stay the largest float tensors of the file.
   */
  embeddings?: boolean;
  /**
   * Conv layers (a ViT's patch embedding): 'weight-only' (default: int8 weight, DequantizeLinear
   * before a float Conv, runs on every onnxruntime backend), 'integer' (ConvInteger with
   * activations quantized at run time: a CPU kernel — onnxruntime-node and onnxruntime-web's wasm
   * backend run it, its WebGL backend and older onnxruntime releases do not) or 'float' (left alone).
   */
  conv?: ConvQuantMode;
  /** Layers to leave in float: by node name (MatMul/Gemm/Add, Gather, Conv), or by op type ('MatMul', 'Gemm', 'Gather', 'Conv'). */
  exclude?: { nodes?: string[]; ops?: string[] };
  /**
   * Weights (and embedding tables) with fewer elements stay float (default DEFAULT_MIN_ELEMENTS):
   * for a small layer such as a 64×10 classifier head, the run-time quantization of its input
   * costs more than the int8 matmul saves, and the head's error goes straight into the logits.
   */
  minElements?: number;
}

/** 64×64, the smallest projection of a tiny ViT: its attention and MLP weights are quantized, its head is not. */
export const DEFAULT_MIN_ELEMENTS = 4096;

export const QUANTIZE_DYNAMIC_OP = 'quantize.dynamic';

const FORMATS: readonly DynamicQuantFormat[] = ['com.microsoft', 'qdq-integer'];
const LINEAR_OPS = ['MatMul', 'Gemm'];
const QUANTIZED_OPS = [...LINEAR_OPS, 'Gather', 'Conv'];


/** The options checked once, every default explicit: what the recipe records and the pass reads. */
export type DynamicQuantSettings = {
  perChannel: boolean;
  format: DynamicQuantFormat;
  embeddings: boolean;
  conv: ConvQuantMode;
  minElements: number;
  exclude: { nodes: string[]; ops: string[] };
};

export function normalizeDynamicQuantOptions(o: DynamicQuantOptions = {}): DynamicQuantSettings {
  const perChannel = o.perChannel ?? true;
  if (typeof perChannel !== 'boolean') throw new MmkitError('BAD_OPTION', `quantize.dynamic: perChannel must be true or false, got ${JSON.stringify(perChannel)}.`);
  const format = o.format ?? 'com.microsoft';
  if (!FORMATS.includes(format)) {
    throw new MmkitError('BAD_OPTION', `quantize.dynamic: unknown format ${JSON.stringify(format)}.`, { hint: `Use one of ${FORMATS.map((f) => `'${f}'`).join(', ')}.` });
  }
  const minElements = o.minElements ?? DEFAULT_MIN_ELEMENTS;
  if (!(Number.isInteger(minElements) && minElements >= 0)) {
    throw new MmkitError('BAD_OPTION', `quantize.dynamic: minElements must be a whole number ≥ 0, got ${minElements}.`);
  }
  const embeddings = o.embeddings ?? true;
  if (typeof embeddings !== 'boolean') throw new MmkitError('BAD_OPTION', `quantize.dynamic: embeddings must be true or false, got ${JSON.stringify(embeddings)}.`);
  const conv = o.conv ?? 'weight-only';
  if (!CONV_MODES.includes(conv)) {
    throw new MmkitError('BAD_OPTION', `quantize.dynamic: unknown conv mode ${JSON.stringify(conv)}.`, { hint: `Use one of ${CONV_MODES.map((m) => `'${m}'`).join(', ')}.` });
  }
  const ops = stringList(QUANTIZE_DYNAMIC_OP, o.exclude?.ops, 'exclude.ops');
  const unknownOp = ops.find((op) => !QUANTIZED_OPS.includes(op));
  if (unknownOp) {
    throw new MmkitError('BAD_OPTION', `quantize.dynamic: exclude.ops lists '${unknownOp}', which this pass never quantizes.`, { hint: `Only ${QUANTIZED_OPS.join(', ')} layers are quantized.` });
  }
  return { perChannel, format, embeddings, conv, minElements, exclude: { nodes: stringList(QUANTIZE_DYNAMIC_OP, o.exclude?.nodes, 'exclude.nodes'), ops } };
}

/** Why a layer stays float (undefined: it is quantized). */
type SkipReason = LayerSkipReason | 'turned off' | 'bias not constant';

function linearSkip(view: GraphView, l: LinearMatch, o: DynamicQuantSettings): SkipReason | undefined {
  const nodes = l.add ? [l.matmul.name, l.add.name] : [l.matmul.name];
  return layerSkip({ nodes, op: l.matmul.opType, dtype: dtypeOf(view.initializer(l.weight)!.dataType), elements: l.inDim * l.outDim }, o.exclude, o.minElements);
}

function embeddingSkip(m: EmbeddingMatch, o: DynamicQuantSettings): SkipReason | undefined {
  if (!o.embeddings) return 'turned off';
  // findEmbeddings finds float32 tables only.
  return layerSkip({ nodes: m.gathers.map((g) => g.name), op: 'Gather', dtype: 'float32', elements: m.rows * m.cols }, o.exclude, o.minElements);
}

function convSkip(view: GraphView, c: ConvMatch, o: DynamicQuantSettings): SkipReason | undefined {
  if (o.conv === 'float') return 'turned off';
  const skip = layerSkip({ nodes: [c.conv.name], op: 'Conv', dtype: dtypeOf(view.initializer(c.weight)!.dataType), elements: convElements(c) }, o.exclude, o.minElements);
  // ConvInteger's float bias is re-added after the integer conv, so it must be a known constant.
  return skip ?? (o.conv === 'integer' && c.conv.input[2] && !c.bias ? 'bias not constant' : undefined);
}

/** Names of the int8 weight and its scales in the edited graph, made once per weight and layout. */
interface WeightNames {
  values: string;
  scales: string;
}

/** A layer the pass found and left float, with the reason. */
export interface SkippedLayer {
  kind: 'linear' | 'embedding' | 'conv';
  name: string;
  elements: number;
  reason: SkipReason;
}

/** What quantizeDynamic rewrites in a model under the given options, and what it leaves float. */
export interface DynamicQuantPlan {
  linears: LinearMatch[];
  embeddings: EmbeddingMatch[];
  convs: ConvMatch[];
  skipped: SkippedLayer[];
}

function plan(view: GraphView, o: DynamicQuantSettings): DynamicQuantPlan {
  const result: DynamicQuantPlan = { linears: [], embeddings: [], convs: [], skipped: [] };
  const sort = <T>(items: T[], kept: T[], kind: SkippedLayer['kind'], skip: (x: T) => SkipReason | undefined, name: (x: T) => string, elements: (x: T) => number) => {
    for (const x of items) {
      const reason = skip(x);
      if (reason) result.skipped.push({ kind, name: name(x), elements: elements(x), reason });
      else kept.push(x);
    }
  };
  sort(findLinears(view), result.linears, 'linear', (l) => linearSkip(view, l, o), (l) => l.matmul.name || l.weight, (l) => l.inDim * l.outDim);
  sort(findEmbeddings(view), result.embeddings, 'embedding', (m) => embeddingSkip(m, o), (m) => m.table, (m) => m.rows * m.cols);
  sort(findConvs(view), result.convs, 'conv', (c) => convSkip(view, c, o), (c) => c.conv.name || c.weight, convElements);
  return result;
}

function requireOpset(model: OnnxModel, view: GraphView, version: number, what: string, hint: string): void {
  if ((view.opset('') ?? 0) >= version) return;
  throw new MmkitError('UNSUPPORTED', `quantize.dynamic: ${what} needs ONNX opset ≥ ${version}; ${model.path ?? 'the model'} imports opset ${view.opset('')}.`, { file: model.path, hint });
}

/** One graph of the model (the main graph or an If/Loop/Scan body) and what the pass does in it. */
interface GraphPlan {
  unit: OnnxModel;
  view: GraphView;
  plan: DynamicQuantPlan;
}

interface Prepared {
  o: DynamicQuantSettings;
  scopes: ModelScopes;
  graphs: GraphPlan[];
  /** The plans of all graphs together, for the report. */
  plan: DynamicQuantPlan;
  /** The main graph's view: every graph has its opsets. */
  view: GraphView;
  /** DequantizeLinear's per-channel axis arrived in opset 13: opsets 10–12 get one scale per Conv weight (dequantize.ts). */
  convPerChannel: boolean;
}

function prepare(model: OnnxModel, o: DynamicQuantSettings): Prepared {
  const scopes = weightScopes(model.proto);
  const graphs = scopes.scopes.map((s) => {
    const view = GraphView.of(s.model);
    return { unit: derivedModel(model, s.model), view, plan: plan(view, o) };
  });
  const nodes = graphs.flatMap((g) => g.view.nodes);
  requireModelNodes(QUANTIZE_DYNAMIC_OP, 'exclude.nodes', o.exclude.nodes, model, { nodes }, 'a MatMul/Gemm/Add, a Gather or a Conv (e.g. "/vision/patch_embed/Conv")');
  const p: DynamicQuantPlan = {
    linears: graphs.flatMap((g) => g.plan.linears),
    embeddings: graphs.flatMap((g) => g.plan.embeddings),
    convs: graphs.flatMap((g) => g.plan.convs),
    skipped: graphs.flatMap((g) => g.plan.skipped),
  };
  const view = graphs[0].view;
  if (o.format === 'qdq-integer') requireOpset(model, view, 11, "format 'qdq-integer' (DynamicQuantizeLinear)", "Use format 'com.microsoft', or convert the model to a newer opset first.");
  if (p.convs.length > 0 && o.conv === 'integer') requireOpset(model, view, 11, "conv 'integer' (DynamicQuantizeLinear)", "Use conv 'weight-only' or 'float'.");
  return { o, scopes, graphs, plan: p, view, convPerChannel: o.perChannel && (o.conv === 'integer' || dequantizesPerChannel(view.opset('') ?? 0)) };
}

/**
 * Quantizes a model's linear layers, embedding tables and Conv weights; the input model is not
 * changed and untouched tensors are shared.
 */
export function quantizeDynamic(model: OnnxModel, settings: DynamicQuantSettings = normalizeDynamicQuantOptions()): OnnxModel {
  return rewrite(model, prepare(model, settings));
}

/** Every graph rewritten; the input model itself when no graph has a layer to quantize. */
function rewrite(model: OnnxModel, prepared: Prepared): OnnxModel {
  return derivedModel(model, prepared.scopes.map((_, i) => rewriteGraph(prepared.graphs[i], prepared)));
}

function rewriteGraph({ unit: model, view, plan: p }: GraphPlan, { o, convPerChannel }: Prepared): ModelProto {
  const { linears, embeddings, convs } = p;
  if (linears.length + embeddings.length + convs.length === 0) return model.proto; // nothing to do: the same immutable model
  return editModel(model.proto, (e) => {
    const made = new Map<string, WeightNames>();
    const weightFor = (l: LinearMatch): WeightNames => {
      const key = `${l.layout}:${l.weight}`;
      let names = made.get(key);
      if (!names) {
        const w = tensorArray(view.initializer(l.weight)!, model) as Float32Array;
        const inOut = l.layout === 'out_in' ? transposeWeight(w, l.outDim, l.inDim) : w;
        const q: QuantizedWeight = quantizeWeight(inOut, l.inDim, l.outDim, o.perChannel);
        names = { values: e.uniqueName(`${l.weight}_quantized`), scales: e.uniqueName(`${l.weight}_scale`) };
        e.addInitializer(makeTensor(names.values, 'int8', [l.inDim, l.outDim], q.values));
        e.addInitializer(makeTensor(names.scales, 'float32', o.perChannel ? [l.outDim] : [], q.scales));
        made.set(key, names);
      }
      return names;
    };
    for (const l of linears) {
      const w = weightFor(l);
      const base = l.matmul.name || l.output;
      const nodes = o.format === 'com.microsoft' ? fusedNodes(l, w, base, e) : integerNodes(l, w, base, e);
      e.replaceNode(l.matmul, ...nodes);
      if (l.add) e.removeNode(l.add);
    }
    for (const m of embeddings) quantizeEmbedding(e, model, m, o.perChannel);
    for (const c of convs) (o.conv === 'integer' ? quantizeConvInteger : quantizeConvWeightOnly)(e, model, c, convPerChannel);
    if (o.format === 'com.microsoft' && view.opset('com.microsoft') === undefined) e.setOpset('com.microsoft', 1);
    // The float tensors go once nothing reads them (a weight shared with an unquantized node stays).
    e.prune();
  });
}

function fusedNodes(l: LinearMatch, w: WeightNames, base: string, e: GraphEditor) {
  // Inputs: A, B, b_scale, b_zero_point (omitted: symmetric, so 0), bias.
  return [node('DynamicQuantizeMatMul', [l.input, w.values, w.scales, '', l.bias ?? ''], [l.output], {}, { name: e.uniqueName(`${base}_quant`), domain: 'com.microsoft' })];
}

function integerNodes(l: LinearMatch, w: WeightNames, base: string, e: GraphEditor) {
  const name = (suffix: string) => e.uniqueName(`${base}_${suffix}`);
  const [xq, xScale, xZero] = [name('input_quantized'), name('input_scale'), name('input_zero_point')];
  const [acc, accFloat, scale] = [name('matmul_integer'), name('matmul_float'), name('output_scale')];
  const scaled = l.bias ? name('scaled') : l.output;
  const nodes = [
    node('DynamicQuantizeLinear', [l.input], [xq, xScale, xZero], {}, { name: name('DynamicQuantizeLinear') }),
    // B's zero point is 0 (symmetric), which is MatMulInteger's default.
    node('MatMulInteger', [xq, w.values, xZero], [acc], {}, { name: name('MatMulInteger') }),
    node('Cast', [acc], [accFloat], { to: { i: 1 } }, { name: name('Cast') }),
    node('Mul', [xScale, w.scales], [scale], {}, { name: name('ScaleMul') }),
    node('Mul', [accFloat, scale], [scaled], {}, { name: name('Mul') }),
  ];
  if (l.bias) nodes.push(node('Add', [scaled, l.bias], [l.output], {}, { name: name('BiasAdd') }));
  return nodes;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** What quantizeDynamic does to a model under the given options: the layers it rewrites and those it leaves float, with why. */
export function dynamicQuantReport(model: OnnxModel, settings: DynamicQuantSettings = normalizeDynamicQuantOptions()): StepReport {
  return reportOf(prepare(model, settings));
}

function reportOf({ o, view, scopes, graphs, plan: p, convPerChannel }: Prepared): StepReport {
  const scales = o.perChannel ? 'per-channel' : 'per-tensor';
  const lines = [
    `${plural(p.linears.length, 'linear')} → ${o.format === 'com.microsoft' ? 'DynamicQuantizeMatMul' : 'DynamicQuantizeLinear + MatMulInteger'} (int8 weights, ${scales} scales).`,
  ];
  if (p.embeddings.length) lines.push(`${plural(p.embeddings.length, 'embedding table')} → int8 (${o.perChannel ? 'one scale per row' : 'one scale per table'}), dequantized after the Gather.`);
  if (p.convs.length) lines.push(`${plural(p.convs.length, 'Conv')} → ${o.conv === 'integer' ? 'DynamicQuantizeLinear + ConvInteger' : 'int8 weight + DequantizeLinear, float Conv'}.`);
  const inBodies = bodiesLine(scopes.scopes, graphs.map((g) => g.plan.linears.length + g.plan.embeddings.length + g.plan.convs.length), 'quantized layers are');
  if (inBodies) lines.push(inBodies);
  const skippedBy = new Map<string, number>();
  for (const x of p.skipped) skippedBy.set(`${x.kind} ${x.reason}`, (skippedBy.get(`${x.kind} ${x.reason}`) ?? 0) + 1);
  if (skippedBy.size) lines.push(`Left float32: ${[...skippedBy].map(([k, n]) => `${n} ${k}`).join(', ')}.`);
  const warnings: string[] = [];
  if (p.convs.length && o.conv === 'integer') {
    warnings.push("ConvInteger is a CPU kernel: onnxruntime-node and onnxruntime-web's wasm backend run it, but its WebGL backend and older onnxruntime releases (int8 weights) cannot. Use conv: 'weight-only' to run everywhere.");
  }
  if (p.convs.length && o.perChannel && !convPerChannel) {
    warnings.push(`Conv weights got one scale per tensor: the model imports opset ${view.opset('')}, and DequantizeLinear's per-channel axis needs 13.`);
  }
  if (p.convs.length && o.conv === 'weight-only' && (view.opset('') ?? 0) < QDQ_OPSET) {
    warnings.push(`Conv weights are dequantized by onnxruntime's com.microsoft DequantizeLinear: the model imports opset ${view.opset('')}, which has no ONNX DequantizeLinear. Runtimes other than onnxruntime cannot run it.`);
  }
  const big = p.skipped.filter((x) => x.reason !== 'excluded' && x.elements >= 1 << 20);
  for (const x of big) warnings.push(`${x.kind} '${x.name}' (${x.elements} values) stays ${keepsOwnType(x.reason) ? 'as it is' : 'float32'} (${x.reason}): the file keeps its float bytes.`);
  const rows: (string | number)[][] = [
    ...p.linears.map((l) => [l.matmul.name || l.weight, 'linear', l.inDim * l.outDim, 'int8']),
    ...p.embeddings.map((m) => [m.table, 'embedding', m.rows * m.cols, 'int8']),
    ...p.convs.map((c) => [c.conv.name || c.weight, 'conv', convElements(c), o.conv === 'integer' ? 'int8 (ConvInteger)' : 'int8 weight-only']),
    ...p.skipped.map((x) => [x.name, x.kind, x.elements, `${keepsOwnType(x.reason) ? 'as it was' : 'float32'} (${x.reason})`]),
  ];
  return {
    op: QUANTIZE_DYNAMIC_OP,
    title: 'dynamic int8',
    lines,
    warnings,
    table: { columns: ['layer', 'kind', 'weights', 'stored as'], rows },
    data: { linears: p.linears.length, embeddings: p.embeddings.length, convs: p.convs.length, skipped: p.skipped.length },
    coverage: stepCoverage('layers', p.linears.length + p.embeddings.length + p.convs.length, p.skipped.map((x) => x.reason)),
  };
}

export const quantizeDynamicStep = registerStep({
  op: QUANTIZE_DYNAMIC_OP,
  normalize: normalizeDynamicQuantOptions,
  checked: true,
  async apply(model, settings, ctx) {
    throwIfAborted(ctx.signal, 'Dynamic quantization');
    const prepared = prepare(model, settings); // once, for the rewrite and its report
    return { model: rewrite(model, prepared), report: reportOf(prepared) };
  },
});
