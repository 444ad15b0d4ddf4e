/**
 * Weight-only int4 quantization: MatMul (+ bias Add) and Gemm layers with a 2-D float32 weight become
 * onnxruntime's com.microsoft MatMulNBits (bits=4). Activations, graph inputs and outputs stay
 * float32; only the weights shrink (to ~1/8 plus one scale per block).
 */
import { MmkitError } from '../../errors';
import {
  GraphView,
  editModel,
  findLinears,
  makeTensor,
  node,
  tensorArray,
  tensorDims,
  dtypeOf,
  type GraphEditor,
  type LinearMatch,
  type ModelProto,
  type OnnxModel,
  derivedModel,
  weightScopes,
} from '../../onnx';
import { registerStep, stepCoverage, type RunContext, type StepReport, type StepResult } from '../../step';
import { stringList } from '../options';
import { qdqWritable } from './qdq-opset';
import { countReasons, keepsOwnType, layerSkip, notLayers, requireModelNodes, type LayerSkipReason } from '../layer-selection';
import { quantizeInt4Blocks } from './int4-blocks';
import { bodiesLine } from '../scope-lines';

export type Int4BlockSize = 32 | 64 | 128;
/** MatMulNBits accuracy_level: the lowest precision A may be computed in (0 unset, 1 fp32, 2 fp16, 3 bf16, 4 int8). */
export type Int4AccuracyLevel = 0 | 1 | 2 | 3 | 4;

export interface QuantizeInt4Options {
  /**
   * Weights per quantization block along K (default 32: smallest error). A layer with a smaller K
   * uses the smallest power of two ≥ max(K, 16) instead: padding a 64-row weight to 128 would
   * double its bytes for nothing.
   */
  blockSize?: Int4BlockSize;
  /** true (default): zero point 8, no zero_points input; false: a 4-bit zero point per block. */
  symmetric?: boolean;
  /**
   * Default 1 (fp32 activations, exact A·deq(B)). 4 quantizes A to int8 per block for int8 dot
   * products: a win for wide layers, but on vit-tiny-mnist (K = 64/128) it measured ~35% slower
   * than float32 on this CPU, while 1 was ~5% faster.
   */
  accuracyLevel?: Int4AccuracyLevel;
  /** MatMul / Gemm node names to leave in float32 (each must name a node of the model). */
  exclude?: { nodes?: string[] };
  /** Weights with fewer elements stay float32 (default 0: quantize all). */
  minElements?: number;
}

const BLOCK_SIZES: readonly number[] = [32, 64, 128];
const MS_DOMAIN = 'com.microsoft';

export const QUANTIZE_INT4_OP = 'quantize.int4';

/** The options checked once, every default explicit: what the recipe records and the pass reads. */
export type QuantizeInt4Settings = {
  blockSize: Int4BlockSize;
  symmetric: boolean;
  accuracyLevel: Int4AccuracyLevel;
  exclude: { nodes: string[] };
  minElements: number;
};

export function normalizeQuantizeInt4Options(o: QuantizeInt4Options = {}): QuantizeInt4Settings {
  const blockSize = o.blockSize ?? 32;
  if (!BLOCK_SIZES.includes(blockSize)) {
    throw new MmkitError('BAD_OPTION', `quantize.int4: blockSize ${JSON.stringify(blockSize)} is not supported.`, { hint: 'Use 32, 64 or 128.' });
  }
  const accuracyLevel = o.accuracyLevel ?? 1;
  if (!Number.isInteger(accuracyLevel) || accuracyLevel < 0 || accuracyLevel > 4) {
    throw new MmkitError('BAD_OPTION', `quantize.int4: accuracyLevel ${JSON.stringify(accuracyLevel)} is not supported.`, { hint: 'Use 0 (unset), 1 (fp32), 2 (fp16), 3 (bf16) or 4 (int8).' });
  }
  const minElements = o.minElements ?? 0;
  if (!Number.isInteger(minElements) || minElements < 0) {
    throw new MmkitError('BAD_OPTION', `quantize.int4: minElements must be a non-negative integer, got ${JSON.stringify(minElements)}.`);
  }
  const symmetric = o.symmetric ?? true;
  if (typeof symmetric !== 'boolean') throw new MmkitError('BAD_OPTION', `quantize.int4: symmetric must be true or false, got ${JSON.stringify(symmetric)}.`);
  return { blockSize, symmetric, accuracyLevel, exclude: { nodes: stringList(QUANTIZE_INT4_OP, o.exclude?.nodes, 'exclude.nodes') }, minElements };
}

/** MatMulNBits needs a power-of-two block of at least 16. */
function layerBlockSize(k: number, blockSize: number): number {
  let fit = 16;
  while (fit < k && fit < blockSize) fit *= 2;
  return Math.min(fit, blockSize);
}

/** A float32 1-D bias of length N can ride in MatMulNBits's bias input; other shapes keep their Add. */
function fusableBias(view: GraphView, m: LinearMatch): string | undefined {
  const t = m.bias === undefined ? undefined : view.constantTensor(m.bias);
  return t && dtypeOf(t.dataType) === 'float32' && tensorDims(t).length === 1 ? m.bias : undefined;
}

type Int4SkipReason = LayerSkipReason | 'Gemm bias not fusable';

function int4Skip(view: GraphView, m: LinearMatch, s: QuantizeInt4Settings): Int4SkipReason | undefined {
  const skip = layerSkip({ nodes: [m.matmul.name], op: m.matmul.opType, dtype: dtypeOf(view.initializer(m.weight)!.dataType), elements: m.inDim * m.outDim }, s.exclude, s.minElements);
  // Gemm adds its bias itself, so it can only go when the bias fits MatMulNBits's bias input.
  return skip ?? (m.matmul.opType === 'Gemm' && m.bias !== undefined && !fusableBias(view, m) ? 'Gemm bias not fusable' : undefined);
}

/** The weight as row-major [K, N], transposing Gemm's transB=1 [N, K] layout. */
function weightInOut(w: Float32Array, m: LinearMatch): Float32Array {
  if (m.layout === 'in_out') return w;
  const k = m.inDim;
  const n = m.outDim;
  const out = new Float32Array(k * n);
  for (let col = 0; col < n; col++) for (let r = 0; r < k; r++) out[r * n + col] = w[col * k + r];
  return out;
}

interface PackedWeight {
  inputs: [packed: string, scales: string, zeroPoints: string];
  blockSize: number;
}

/** Quantizes one weight and adds its MatMulNBits initializers (B, scales, zero points when asymmetric). */
function addPackedWeight(e: GraphEditor, model: OnnxModel, m: LinearMatch, s: QuantizeInt4Settings): PackedWeight {
  const k = m.inDim;
  const n = m.outDim;
  const weight = weightInOut(tensorArray(e.view.initializer(m.weight)!, model) as Float32Array, m);
  const blockSize = layerBlockSize(k, s.blockSize);
  const q = quantizeInt4Blocks(weight, k, n, blockSize, s.symmetric);
  const packed = e.uniqueName(`${m.weight}_int4`);
  const scales = e.uniqueName(`${m.weight}_int4_scales`);
  e.addInitializer(makeTensor(packed, 'uint8', [n, q.blocksPerColumn, blockSize / 2], q.packed));
  e.addInitializer(makeTensor(scales, 'float32', [n * q.blocksPerColumn], q.scales));
  let zeroPoints = '';
  if (q.zeroPoints) {
    zeroPoints = e.uniqueName(`${m.weight}_int4_zero_points`);
    e.addInitializer(makeTensor(zeroPoints, 'uint8', [q.zeroPoints.length], q.zeroPoints));
  }
  return { inputs: [packed, scales, zeroPoints], blockSize };
}

/** A layer the pass left float32, with the reason. */
interface SkippedLinear {
  match: LinearMatch;
  reason: Int4SkipReason;
}

/** The pure pass: returns a new model; the input model and its tensors are left as they were. */
export function quantizeInt4(model: OnnxModel, options: QuantizeInt4Options = {}, ctx: RunContext = {}): OnnxModel {
  return int4Quantization(model, normalizeQuantizeInt4Options(options), ctx).model;
}

/** One graph of the model (the main graph or an If/Loop/Scan body) and its linears. */
interface GraphPlan {
  unit: OnnxModel;
  view: GraphView;
  targets: LinearMatch[];
  skipped: SkippedLinear[];
}

/** The pass over checked settings, with its report. */
export function int4Quantization(model: OnnxModel, s: QuantizeInt4Settings, ctx: RunContext = {}): StepResult & { report: StepReport } {
  const scopes = weightScopes(model.proto);
  const graphs: GraphPlan[] = scopes.scopes.map((scope) => {
    const view = GraphView.of(scope.model);
    const plan: GraphPlan = { unit: derivedModel(model, scope.model), view, targets: [], skipped: [] };
    for (const m of findLinears(view)) {
      const reason = int4Skip(view, m, s);
      if (reason) plan.skipped.push({ match: m, reason });
      else plan.targets.push(m);
    }
    return plan;
  });
  const views = graphs.map((g) => g.view);
  requireModelNodes(QUANTIZE_INT4_OP, 'exclude.nodes', s.exclude.nodes, model, { nodes: views.flatMap((v) => v.nodes) }, 'a MatMul or Gemm (e.g. "/fc1/MatMul")');
  const targets = graphs.flatMap((g) => g.targets);
  const skipped = graphs.flatMap((g) => g.skipped);
  let done = 0;
  const progress = () => ctx.onProgress?.(++done, targets.length, QUANTIZE_INT4_OP);
  const proto = scopes.map((_, i) => packGraph(graphs[i], s, ctx, progress));
  const inBodies = bodiesLine(scopes.scopes, graphs.map((g) => g.targets.length), 'int4 linears are');
  return { model: derivedModel(model, proto), report: int4Report(s, targets, skipped, views, inBodies) };
}

/** One graph with its target linears as MatMulNBits; the graph's own model when it has none. */
function packGraph({ unit: model, view, targets }: GraphPlan, s: QuantizeInt4Settings, ctx: RunContext, progress: () => void): ModelProto {
  if (targets.length === 0) return model.proto;
  return editModel(model.proto, (e) => {
    // Layers that share (tie) a weight in the same layout share its packed copy too.
    const packedByWeight = new Map<string, PackedWeight>();
    for (const m of targets) {
      if (ctx.signal?.aborted) {
        throw new MmkitError('CANCELLED', `quantize.int4 was cancelled at layer '${m.matmul.name || m.weight}'.`, { node: m.matmul.name });
      }
      const key = `${m.layout}:${m.weight}`;
      let packed = packedByWeight.get(key);
      if (!packed) {
        packed = addPackedWeight(e, model, m, s);
        packedByWeight.set(key, packed);
      }
      const bias = fusableBias(view, m);
      // Optional inputs: zero_points (3), g_idx (4, unused), bias (5); trailing empty ones are dropped.
      const inputs = bias ? [m.input, ...packed.inputs, '', bias] : [m.input, ...packed.inputs].filter((x) => x !== '');
      const output = bias ? m.output : m.matmul.output[0];
      const attrs = { K: m.inDim, N: m.outDim, bits: 4, block_size: packed.blockSize, accuracy_level: s.accuracyLevel };
      e.replaceNode(m.matmul, node('MatMulNBits', inputs, [output], attrs, { name: e.uniqueName(`${m.matmul.name || m.weight}_int4`), domain: MS_DOMAIN }));
      if (bias && m.add) e.removeNode(m.add);
      progress();
    }
    // A float weight that some other node still reads stays; otherwise it goes.
    const rewritten = new Set(targets.map((m) => m.matmul));
    for (const w of new Set(targets.map((m) => m.weight))) {
      if (view.consumers(w).every((c) => rewritten.has(c)) && !view.isGraphOutput(w)) e.removeInitializer(w);
    }
    e.setOpset(MS_DOMAIN, 1);
  });
}

const layerName = (m: LinearMatch) => m.matmul.name || m.weight;

/**
 * What the pass did, as dynamic and static quantization report it: layers rewritten, layers left
 * float32 and why, layers whose weights are float16 or integers already, and when nothing was
 * rewritten, why for every MatMul/Gemm of the graph.
 */
function int4Report(s: QuantizeInt4Settings, targets: LinearMatch[], skipped: SkippedLinear[], views: readonly GraphView[], inBodies?: string): StepReport {
  const lines = [
    `${targets.length} linear${targets.length === 1 ? '' : 's'} → MatMulNBits (4-bit weights in blocks of up to ${s.blockSize}, ${s.symmetric ? 'symmetric' : 'asymmetric with a zero point per block'}, accuracy_level ${s.accuracyLevel}); activations stay float32.`,
  ];
  if (inBodies) lines.push(inBodies);
  const layers = new Set([...targets, ...skipped.map((x) => x.match)].map((m) => m.matmul));
  const others = views.flatMap((view) => notLayers(view, layers));
  const leftFloat = skipped.filter((x) => !keepsOwnType(x.reason)).map((x) => x.reason);
  const ownType = [...skipped.filter((x) => keepsOwnType(x.reason)).map((x) => x.reason), ...others.filter(keepsOwnType)];
  if (leftFloat.length) lines.push(`Left float32: ${countReasons(leftFloat)}.`);
  if (ownType.length) lines.push(`Left as they are: ${countReasons(ownType)}.`);
  const warnings: string[] = [];
  if (targets.length === 0) {
    const all = [...skipped.map((x) => x.reason), ...others];
    // Static quantization takes the main graph's Convs (views[0]), where it can write QDQ nodes.
    const convs = views[0].nodes.some((n) => n.opType === 'Conv') && qdqWritable(views[0]) ? "; quantize({ mode: 'static' }) quantizes its Convs" : '';
    warnings.push(
      all.length
        ? `No layer was quantized: of the model's ${all.length} MatMul/Gemm nodes, ${countReasons(all)}.`
        : `No layer was quantized: the model has no MatMul or Gemm (int4 takes only those)${convs}.`,
    );
  }
  if (s.accuracyLevel === 4) warnings.push('accuracy_level 4 quantizes activations to int8 on every run: on small layers that measured slower than float32.');
  const rows: (string | number)[][] = [
    ...targets.map((m) => [layerName(m), m.matmul.opType, m.inDim * m.outDim, 'int4']),
    ...skipped.map((x) => [layerName(x.match), x.match.matmul.opType, x.match.inDim * x.match.outDim, `${keepsOwnType(x.reason) ? 'as it was' : 'float32'} (${x.reason})`]),
  ];
  return {
    op: QUANTIZE_INT4_OP,
    title: 'int4 weight-only',
    lines,
    warnings,
    table: { columns: ['layer', 'op', 'weights', 'stored as'], rows },
    data: { linears: targets.length, skipped: skipped.length, blockSize: s.blockSize, symmetric: s.symmetric, accuracyLevel: s.accuracyLevel },
    coverage: stepCoverage('MatMul/Gemm layers', targets.length, skipped.map((x) => x.reason)),
  };
}

export const quantizeInt4Step = registerStep({
  op: QUANTIZE_INT4_OP,
  normalize: normalizeQuantizeInt4Options,
  checked: true,
  async apply(model, settings, ctx) {
    return int4Quantization(model, settings, ctx);
  },
});
