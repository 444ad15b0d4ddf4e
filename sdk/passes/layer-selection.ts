/**
 * Which layers a pass leaves alone, by one rule for every pass (as onnxruntime's quantizer's
 * `should_quantize`): a layer is skipped when one of its nodes or its op type is excluded, when its
 * weight is not float32 (float16 weights, or integer ones: already quantized), or when the weight
 * has fewer elements than minElements. Passes add their own reasons after these. The reasons say
 * what the layer is, so a report never calls a float16 or int8 weight "float32".
 */
import { MmkitError } from '../errors';
import type { DType, GraphView, NodeProto, OnnxModel } from '../onnx';

export type LayerSkipReason = 'excluded' | 'under minElements' | 'already quantized' | `${DType} weights`;

/** What a report adds to a reason a layer kept its weight's type: what to do instead. */
const SKIP_ADVICE: Partial<Record<string, string>> = {
  'float16 weights': 'quantize the float32 model instead',
  'bfloat16 weights': 'quantize the float32 model instead',
  'already quantized': 'its weight is stored as integers already',
};

/** Whether a reason keeps a weight that is not float32 as it is (the report must not call it "float32"). */
export const keepsOwnType = (reason: string): boolean => reason === 'already quantized' || (reason.endsWith(' weights') && reason !== 'float32 weights');

/** Reasons counted, each with its advice once: "2 excluded, 1 float16 weights (quantize the float32 model instead)". */
export function countReasons(reasons: readonly string[]): string {
  const by = new Map<string, number>();
  for (const r of reasons) by.set(r, (by.get(r) ?? 0) + 1);
  return [...by].map(([r, n]) => `${n} ${r}${SKIP_ADVICE[r] ? ` (${SKIP_ADVICE[r]})` : ''}`).join(', ');
}

/**
 * Why each MatMul/Gemm of the graph that is none of `layers` (the linears a pass found) is no
 * layer: its weight comes from a DequantizeLinear (already quantized), is a constant in a form the
 * passes do not take, or is computed at run time (attention's q·kᵀ).
 */
export function notLayers(view: GraphView, layers: ReadonlySet<NodeProto>): string[] {
  return view.nodes
    .filter((n) => (n.opType === 'MatMul' || n.opType === 'Gemm') && n.domain === '' && !layers.has(n))
    .map((n) => {
      const w = n.input[1];
      if (view.producer(w)?.opType === 'DequantizeLinear') return 'already quantized';
      const t = view.constantTensor(w);
      if (!t) return 'weight computed at run time';
      if (!view.initializer(w)) return 'weight in a Constant node';
      return t.dims.length === 2 ? 'Gemm with transA, alpha or beta' : `weight of rank ${t.dims.length}`;
    });
}

const INTEGER_WEIGHTS: readonly DType[] = ['int8', 'uint8', 'int4', 'uint4', 'int16', 'uint16', 'int32'];

/** A pass's exclusions: node names, and op types where the pass takes them. */
export interface LayerExclusions {
  nodes: readonly string[];
  ops?: readonly string[];
}

/** What the selection looks at: the layer's node names and op type, its weight's type and size. */
export interface LayerFacts {
  nodes: readonly string[];
  op: string;
  dtype: DType;
  elements: number;
}

export function isExcluded(exclude: LayerExclusions, nodes: readonly string[], op: string): boolean {
  return (exclude.ops?.includes(op) ?? false) || nodes.some((n) => exclude.nodes.includes(n));
}

/** Why the layer stays as it is, or undefined when the pass may rewrite it. */
export function layerSkip(layer: LayerFacts, exclude: LayerExclusions, minElements: number): LayerSkipReason | undefined {
  if (isExcluded(exclude, layer.nodes, layer.op)) return 'excluded';
  if (INTEGER_WEIGHTS.includes(layer.dtype)) return 'already quantized';
  if (layer.dtype !== 'float32') return `${layer.dtype} weights`;
  return layer.elements >= minElements ? undefined : 'under minElements';
}

/**
 * Node names an option lists must be nodes of the model: a misspelt exclusion would otherwise
 * silently compress the layer it meant to protect. `what` says which nodes the option takes.
 */
export function requireModelNodes(op: string, option: string, names: readonly string[], model: OnnxModel, view: { nodes: readonly NodeProto[] }, what: string): void {
  const missing = names.filter((name) => !view.nodes.some((n) => n.name === name));
  if (missing.length === 0) return;
  throw new MmkitError('BAD_OPTION', `${op}: ${option} names ${missing.map((x) => `'${x}'`).join(', ')}, which ${model.path ?? 'the model'} does not have.`, {
    node: missing[0],
    file: model.path,
    hint: `Use the ONNX node names of the model: ${what}.`,
  });
}
