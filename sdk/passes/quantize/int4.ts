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
  type OnnxModel,
  derivedModel,
} from '../../onnx';
import { registerStep, type RunContext } from '../../step';
import { quantizeInt4Blocks } from './int4-blocks';

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

function normalizeInt4(o: QuantizeInt4Options = {}) {
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
  const nodes = o.exclude?.nodes ?? [];
  if (!Array.isArray(nodes) || nodes.some((x) => typeof x !== 'string')) {
    throw new MmkitError('BAD_OPTION', 'quantize.int4: exclude.nodes must be a list of node names.');
  }
  return { blockSize, symmetric: o.symmetric ?? true, accuracyLevel, exclude: { nodes: [...nodes] }, minElements };
}

type Int4Settings = ReturnType<typeof normalizeInt4>;

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

function quantizable(view: GraphView, m: LinearMatch, s: Int4Settings): boolean {
  if (s.exclude.nodes.includes(m.matmul.name)) return false;
  // Gemm adds its bias itself, so it can only go when the bias fits MatMulNBits's bias input.
  if (m.matmul.opType === 'Gemm' && m.bias !== undefined && !fusableBias(view, m)) return false;
  const w = view.initializer(m.weight);
  return !!w && dtypeOf(w.dataType) === 'float32' && m.inDim * m.outDim >= s.minElements;
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
function addPackedWeight(e: GraphEditor, model: OnnxModel, m: LinearMatch, s: Int4Settings): PackedWeight {
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

/** The pure pass: returns a new model; the input model and its tensors are left as they were. */
export function quantizeInt4(model: OnnxModel, options: QuantizeInt4Options = {}, ctx: RunContext = {}): OnnxModel {
  const s = normalizeInt4(options);
  const view = GraphView.of(model.proto);
  const unknown = s.exclude.nodes.filter((name) => !view.nodes.some((x) => x.name === name));
  if (unknown.length > 0) {
    throw new MmkitError('BAD_OPTION', `quantize.int4: exclude.nodes names ${unknown.map((x) => `'${x}'`).join(', ')}, which the model does not have.`, {
      node: unknown[0],
      hint: 'Check the spelling against the ONNX node names of the model (a MatMul or Gemm, e.g. "/fc1/MatMul").',
    });
  }
  const targets = findLinears(view).filter((m) => quantizable(view, m, s));
  if (targets.length === 0) return model;
  const proto = editModel(model.proto, (e) => {
    // Layers that share (tie) a weight in the same layout share its packed copy too.
    const packedByWeight = new Map<string, PackedWeight>();
    targets.forEach((m, i) => {
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
      ctx.onProgress?.(i + 1, targets.length, 'quantize.int4');
    });
    // A float weight that some other node still reads stays; otherwise it goes.
    const rewritten = new Set(targets.map((m) => m.matmul));
    for (const w of new Set(targets.map((m) => m.weight))) {
      if (view.consumers(w).every((c) => rewritten.has(c)) && !view.isGraphOutput(w)) e.removeInitializer(w);
    }
    e.setOpset(MS_DOMAIN, 1);
  });
  return derivedModel(model, proto);
}

registerStep<QuantizeInt4Options>({
  op: 'quantize.int4',
  normalize: normalizeInt4,
  checked: true,
  async apply(model, options, ctx) {
    return quantizeInt4(model, options as QuantizeInt4Options, ctx);
  },
});
