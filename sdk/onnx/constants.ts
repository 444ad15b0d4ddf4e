/**
 * Weights where the passes look for them. The passes read a layer's weight as an initializer, but
 * paddle2onnx, tf2onnx and spox keep every weight in a Constant node, and torch reaches a
 * deduplicated weight through an Identity node. liftConstantWeights rewrites a graph so that:
 * - a Constant node holding a float tensor, or any tensor a layer reads as its weight or bias,
 *   becomes an initializer of the same name (integer constants such as shapes and axes stay nodes);
 * - an Identity of an initializer becomes an alias: its readers read the initializer itself;
 * - a Transpose of a weight that a layer reads as its weight (torch exports made without constant
 *   folding write `MatMul(x, Transpose(W))`) becomes the transposed weight, same bytes.
 * A Cast of a float16 weight is left as it is: folding it would store the weight twice as wide
 * wherever the pass then leaves that layer alone. The model computes exactly what it did.
 */
import { attrInts, attrTensor } from './attrs';
import { isExternal } from './external';
import { dtypeOf, isFloatDType, type TensorArray } from './dtype';
import { editModel, GraphView, outerReads } from './graph';
import type { ModelProto, NodeProto } from './proto';
import type { OnnxModel } from './read';
import { ModelScopes } from './scopes';
import { makeTensor, tensorArray, tensorDims } from './tensor';
import { nodeSubgraphs, shallowCopy } from './walk';

// Input positions that hold a layer's weight (and bias), by op type.
const WEIGHT_INPUTS: Readonly<Record<string, readonly number[]>> = { MatMul: [0, 1], Gemm: [1, 2], Conv: [1, 2], ConvTranspose: [1, 2], Gather: [0] };
// Since IR version 4 an initializer need not be listed among the graph's inputs.
const IR_INITIALIZERS_APART = 4n;

const isStandard = (n: NodeProto) => n.domain === '' || n.domain === 'ai.onnx';

function readsAsWeight(view: GraphView, name: string): boolean {
  return view.consumers(name).some((c) => isStandard(c) && (WEIGHT_INPUTS[c.opType] ?? []).some((i) => c.input[i] === name));
}

/** `data` of shape `dims` with its axes permuted: output axis i is input axis perm[i]. */
function transposed(data: TensorArray, dims: readonly number[], perm: readonly number[]): { data: TensorArray; dims: number[] } {
  const outDims = perm.map((p) => dims[p]);
  const inStrides = dims.map((_, i) => dims.slice(i + 1).reduce((a, b) => a * b, 1));
  const strides = perm.map((p) => inStrides[p]);
  const out = new (data.constructor as new (n: number) => TensorArray)(data.length);
  const index = new Array<number>(outDims.length).fill(0);
  for (let o = 0; o < data.length; o++) {
    let from = 0;
    for (let a = 0; a < index.length; a++) from += index[a] * strides[a];
    out[o] = data[from];
    for (let a = index.length - 1; a >= 0 && ++index[a] === outDims[a]; a--) index[a] = 0;
  }
  return { data: out, dims: outDims };
}

/** Values the node's bodies (If branches, Loop/Scan bodies) read from this graph: an alias must not rename them away. */
function readByBodies(view: GraphView): Set<string> {
  return new Set(view.nodes.flatMap((n) => nodeSubgraphs(n).flatMap(outerReads)));
}

/**
 * The model with its main graph's constant weights as initializers (see the module comment); the
 * input model itself when there is nothing to lift. Subgraphs are left to the caller (ModelScopes).
 */
export function liftConstantWeights(model: ModelProto): ModelProto {
  const view = GraphView.of(model);
  const lifted = view.nodes.filter((n) => {
    if (n.opType !== 'Constant' || !isStandard(n) || view.isGraphOutput(n.output[0])) return false;
    const t = attrTensor(n, 'value');
    return t !== undefined && (isFloatDType(dtypeOf(t.dataType)) || readsAsWeight(view, n.output[0]));
  });
  const liftedNames = new Set(lifted.map((n) => n.output[0]));
  const isWeight = (name: string) => view.isInitializer(name) || liftedNames.has(name);
  const bodies = readByBodies(view);
  const aliases = new Set(view.nodes.filter((n) => n.opType === 'Identity' && isStandard(n) && !view.isGraphOutput(n.output[0]) && !bodies.has(n.output[0])));
  // An Identity of an Identity of a weight is an alias too: follow the chain to the weight.
  const source = (name: string): string | undefined => {
    for (let hops = 0; hops < 16; hops++) {
      if (isWeight(name)) return name;
      const p = view.producer(name);
      if (!p || !aliases.has(p)) return undefined;
      name = p.input[0];
    }
    return undefined;
  };
  const resolved = [...aliases].flatMap((n) => {
    const s = source(n.input[0]);
    return s ? [{ node: n, source: s }] : [];
  });
  const weightTensor = (name: string) => view.initializer(name) ?? attrTensor(lifted.find((n) => n.output[0] === name)!, 'value');
  const folded = view.nodes.flatMap((n) => {
    if (n.opType !== 'Transpose' || !isStandard(n) || view.isGraphOutput(n.output[0]) || bodies.has(n.output[0]) || !readsAsWeight(view, n.output[0])) return [];
    const s = source(n.input[0]);
    const t = s === undefined ? undefined : weightTensor(s);
    return s !== undefined && t !== undefined && !isExternal(t) ? [{ node: n, source: s, tensor: t }] : [];
  });
  if (lifted.length === 0 && resolved.length === 0 && folded.length === 0) return model;
  const edited = editModel(model, (e) => {
    for (const n of lifted) {
      const t = attrTensor(n, 'value')!;
      e.addInitializer(t.name === n.output[0] ? t : shallowCopy(t, { name: n.output[0] }));
      e.removeNode(n);
    }
    for (const { node, source: s } of resolved) {
      e.removeNode(node);
      e.replaceUses(node.output[0], s);
    }
    for (const { node, tensor } of folded) {
      const dims = tensorDims(tensor);
      const perm = attrInts(node, 'perm') ?? dims.map((_, i) => dims.length - 1 - i);
      const t = transposed(tensorArray(tensor), dims, perm);
      e.removeNode(node);
      e.addInitializer(makeTensor(node.output[0], dtypeOf(tensor.dataType), t.dims, t.data));
    }
    // A weight read only through the Transposes folded above is gone from the graph: drop it.
    for (const s of new Set(folded.map((f) => f.source))) {
      const readers = view.consumers(s);
      if (readers.every((c) => folded.some((f) => f.node === c)) && !bodies.has(s) && !view.isGraphOutput(s)) e.removeInitializer(s);
    }
  });
  return model.irVersion < IR_INITIALIZERS_APART ? shallowCopy(edited, { irVersion: IR_INITIALIZERS_APART }) : edited;
}

/**
 * For a pass that rewrites the main graph only: the model with that graph's constant weights
 * lifted, its path and baseDir kept (messages name the file); the very model when nothing was lifted.
 */
export function withLiftedWeights(model: OnnxModel): OnnxModel {
  const proto = liftConstantWeights(model.proto);
  return proto === model.proto ? model : { proto, path: model.path, baseDir: model.baseDir };
}

/**
 * The model's graphs (main graph, then every If/Loop/Scan body) as the compression passes see
 * them, each with its constant weights lifted. The one entry of every weight pass: a pass maps
 * each scope and gets back the input model itself when it changed nothing.
 */
export function weightScopes(model: ModelProto): ModelScopes {
  return ModelScopes.of(model, liftConstantWeights);
}
