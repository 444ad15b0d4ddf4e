/**
 * Which layers a pass leaves alone, by one rule for every pass (as onnxruntime's quantizer's
 * `should_quantize`): a layer is skipped when one of its nodes or its op type is excluded, when its
 * weight is not float32 (other types are another pass's business), or when the weight has fewer
 * elements than minElements. Passes add their own reasons after these.
 */
import { MmkitError } from '../errors';
import type { DType, GraphView, OnnxModel } from '../onnx';

export type LayerSkipReason = 'excluded' | 'not float32' | 'under minElements';

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
  if (layer.dtype !== 'float32') return 'not float32';
  return layer.elements >= minElements ? undefined : 'under minElements';
}

/**
 * Node names an option lists must be nodes of the model: a misspelt exclusion would otherwise
 * silently compress the layer it meant to protect. `what` says which nodes the option takes.
 */
export function requireModelNodes(op: string, option: string, names: readonly string[], model: OnnxModel, view: GraphView, what: string): void {
  const missing = names.filter((name) => !view.nodes.some((n) => n.name === name));
  if (missing.length === 0) return;
  throw new MmkitError('BAD_OPTION', `${op}: ${option} names ${missing.map((x) => `'${x}'`).join(', ')}, which ${model.path ?? 'the model'} does not have.`, {
    node: missing[0],
    file: model.path,
    hint: `Use the ONNX node names of the model: ${what}.`,
  });
}
