/**
 * Recovers the weight a quantized layer really multiplies by — its dequantized ("effective")
 * weight — from the graph forms mmkit's passes and onnxruntime's quantizer write:
 * com.microsoft DynamicQuantizeMatMul, MatMulInteger (+ Cast + scale Mul), com.microsoft
 * MatMulNBits blocks, DequantizeLinear on a constant feeding MatMul / Gemm / Conv (QDQ), int8
 * embedding tables dequantized after their Gather, and float16/bfloat16 weights.
 */
import { GraphView, type NodeProto, type OnnxModel } from '../onnx';
import type { EffectiveWeight, UnrecoveredWeight } from './weight-forms/types';
import { dequantizeLinear } from './weight-forms/dequantize-linear';
import { gatheredTable } from './weight-forms/embedding';
import { WEIGHT_CONSUMERS } from './weight-forms/graph';
import { dynamicQuantizeMatMul, matMulInteger } from './weight-forms/int8-matmul';
import { lowPrecisionFloat } from './weight-forms/low-precision';
import { matMulNBits } from './weight-forms/matmul-nbits';

export { schemeOf } from './weight-forms/types';
export type { EffectiveWeight, Granularity, QuantGroups, UnrecoveredWeight } from './weight-forms/types';

/** Every quantized weight of a model that can be dequantized, with the nodes that could not. */
export function effectiveWeights(model: OnnxModel, nodes?: readonly NodeProto[]): { weights: EffectiveWeight[]; unrecovered: UnrecoveredWeight[] } {
  const view = GraphView.of(model.proto);
  const weights: EffectiveWeight[] = [];
  const unrecovered: UnrecoveredWeight[] = [];
  for (const n of nodes ?? view.nodes) {
    const found = recover(view, model, n);
    if (typeof found === 'string') unrecovered.push({ node: n.name || n.opType, reason: found });
    else if (!found) continue;
    else {
      // A table read by several Gathers is one weight, whose outputs are all theirs.
      const same = found.form.startsWith('Gather') ? weights.find((w) => w.stored === found.stored && w.form === found.form) : undefined;
      if (same) same.outputs.push(...found.outputs);
      else weights.push(found);
    }
  }
  return { weights, unrecovered };
}

/** The effective weight a node reads, a reason it cannot be had, or undefined for nodes that read no quantized weight. */
function recover(view: GraphView, model: OnnxModel, n: NodeProto): EffectiveWeight | string | undefined {
  if (n.domain === 'com.microsoft' && n.opType === 'DynamicQuantizeMatMul') return dynamicQuantizeMatMul(view, model, n);
  if (n.domain === 'com.microsoft' && n.opType === 'MatMulNBits') return matMulNBits(view, model, n);
  if (n.domain === '' && n.opType === 'MatMulInteger') return matMulInteger(view, model, n);
  if (n.domain === '' && n.opType === 'DequantizeLinear') return dequantizeLinear(view, model, n);
  if (n.domain === '' && n.opType === 'Gather') return gatheredTable(view, model, n) ?? lowPrecisionFloat(view, model, n);
  if (n.domain === '' && n.opType in WEIGHT_CONSUMERS) return lowPrecisionFloat(view, model, n);
  return undefined;
}

/** How many producers back from a layer's output its weight-reading node can sit (output ← Cast ← Add ← Mul ← Cast ← MatMulInteger). */
const LAYER_DEPTH = 6;

/**
 * The dequantized weight of the layer that produces one of `outputs`, dequantizing only the nodes
 * a few steps upstream of them rather than the whole model; undefined when that layer is not quantized.
 */
export function effectiveWeightOf(model: OnnxModel, outputs: readonly string[]): EffectiveWeight | undefined {
  const view = GraphView.of(model.proto);
  const near = new Set<NodeProto>();
  let frontier = [...outputs];
  for (let depth = 0; depth < LAYER_DEPTH && frontier.length > 0; depth++) {
    const next: string[] = [];
    for (const name of frontier) {
      const p = view.producer(name);
      if (p && !near.has(p)) {
        near.add(p);
        next.push(...p.input.filter((x) => x !== ''));
      }
    }
    frontier = next;
  }
  return effectiveWeights(model, view.nodes.filter((n) => near.has(n))).weights.find((w) => w.outputs.some((o) => outputs.includes(o)));
}
