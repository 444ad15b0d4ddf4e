/**
 * Weight-only int4 quantization: MatMul (+ bias Add) layers with a 2-D float32 weight become
 * onnxruntime's com.microsoft MatMulNBits (bits=4). Activations, graph inputs and outputs stay
 * float32; only the weights shrink (to ~1/8 plus one scale per block).
 */
import { MmkitError } from '../errors';
import {
  GraphView,
  editModel,
  findLinears,
  makeTensor,
  node,
  tensorArray,
  tensorDims,
  dtypeOf,
  type LinearMatch,
  type OnnxModel,
} from '../onnx';
import { registerStep } from '../pipeline/steps';
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
  /** Default 4: the CPU kernel quantizes A to int8 per block and runs int8 dot products. */
  accuracyLevel?: Int4AccuracyLevel;
  /** MatMul node names to leave in float32. */
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
  const accuracyLevel = o.accuracyLevel ?? 4;
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
  if (m.matmul.opType !== 'MatMul' || m.layout !== 'in_out') return false;
  if (s.exclude.nodes.includes(m.matmul.name)) return false;
  const w = view.initializer(m.weight);
  return !!w && dtypeOf(w.dataType) === 'float32' && m.inDim * m.outDim >= s.minElements;
}

/** The pure pass: returns a new model; the input model and its tensors are left as they were. */
export function quantizeInt4(model: OnnxModel, options: QuantizeInt4Options = {}): OnnxModel {
  const s = normalizeInt4(options);
  const view = GraphView.of(model.proto);
  const targets = findLinears(view).filter((m) => quantizable(view, m, s));
  if (targets.length === 0) return model;
  const proto = editModel(model.proto, (e) => {
    const replaced = new Set<string>();
    for (const m of targets) {
      const k = m.inDim;
      const n = m.outDim;
      const weight = tensorArray(view.initializer(m.weight)!, model) as Float32Array;
      const blockSize = layerBlockSize(k, s.blockSize);
      const q = quantizeInt4Blocks(weight, k, n, blockSize, s.symmetric);
      const base = m.weight;
      const packedName = e.uniqueName(`${base}_int4`);
      const scalesName = e.uniqueName(`${base}_int4_scales`);
      e.addInitializer(makeTensor(packedName, 'uint8', [n, q.blocksPerColumn, blockSize / 2], q.packed));
      e.addInitializer(makeTensor(scalesName, 'float32', [n * q.blocksPerColumn], q.scales));
      let zpName = '';
      if (q.zeroPoints) {
        zpName = e.uniqueName(`${base}_int4_zero_points`);
        e.addInitializer(makeTensor(zpName, 'uint8', [q.zeroPoints.length], q.zeroPoints));
      }
      const bias = fusableBias(view, m);
      // Optional inputs: zero_points (3), g_idx (4, unused), bias (5); trailing empty ones are dropped.
      const inputs = bias ? [m.input, packedName, scalesName, zpName, '', bias] : [m.input, packedName, scalesName, zpName].filter((x) => x !== '');
      const output = bias ? m.output : m.matmul.output[0];
      const fused = node('MatMulNBits', inputs, [output], { K: k, N: n, bits: 4, block_size: blockSize, accuracy_level: s.accuracyLevel }, {
        name: e.uniqueName(`${m.matmul.name || base}_int4`),
        domain: MS_DOMAIN,
      });
      e.replaceNode(m.matmul, fused);
      if (bias && m.add) e.removeNode(m.add);
      replaced.add(m.weight);
    }
    // A weight that some other node still reads stays; otherwise its float copy goes.
    const stillRead = new Set(view.nodes.filter((x) => !targets.some((m) => m.matmul === x)).flatMap((x) => x.input));
    for (const w of replaced) if (!stillRead.has(w) && !view.isGraphOutput(w)) e.removeInitializer(w);
    e.setOpset(MS_DOMAIN, 1);
  });
  return { ...model, proto };
}

registerStep<QuantizeInt4Options>({
  op: 'quantize.int4',
  normalize: normalizeInt4,
  async apply(model, options) {
    return quantizeInt4(model, options as QuantizeInt4Options);
  },
});
