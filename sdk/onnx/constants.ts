/**
 * Weights where the passes look for them. The passes read a layer's weight as an initializer, but
 * paddle2onnx, tf2onnx and spox keep every weight in a Constant node, and torch reaches a
 * deduplicated weight through an Identity node. liftConstantWeights rewrites a graph so that:
 * - a Constant node holding a float tensor, or any tensor a layer reads as its weight or bias,
 *   becomes an initializer of the same name (integer constants such as shapes and axes stay nodes);
 * - an Identity of an initializer becomes an alias: its readers read the initializer itself.
 * The model computes exactly what it did.
 */
import { attrTensor } from './attrs';
import { dtypeOf, type DType } from './dtype';
import { editModel, GraphView, outerReads } from './graph';
import type { ModelProto, NodeProto } from './proto';
import type { OnnxModel } from './read';
import { ModelScopes } from './scopes';
import { nodeSubgraphs, shallowCopy } from './walk';

const FLOAT_TYPES: ReadonlySet<DType> = new Set<DType>(['float32', 'float16', 'bfloat16', 'float64']);
// Input positions that hold a layer's weight (and bias), by op type.
const WEIGHT_INPUTS: Readonly<Record<string, readonly number[]>> = { MatMul: [0, 1], Gemm: [1, 2], Conv: [1, 2], ConvTranspose: [1, 2], Gather: [0] };
// Since IR version 4 an initializer need not be listed among the graph's inputs.
const IR_INITIALIZERS_APART = 4n;

const isStandard = (n: NodeProto) => n.domain === '' || n.domain === 'ai.onnx';

function readsAsWeight(view: GraphView, name: string): boolean {
  return view.consumers(name).some((c) => isStandard(c) && (WEIGHT_INPUTS[c.opType] ?? []).some((i) => c.input[i] === name));
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
    return t !== undefined && (FLOAT_TYPES.has(dtypeOf(t.dataType)) || readsAsWeight(view, n.output[0]));
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
  if (lifted.length === 0 && resolved.length === 0) return model;
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
