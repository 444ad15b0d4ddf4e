import type { AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto } from './proto';
import { dtypeOf, isFloatDType } from './dtype';
import { tensorElementCount } from './tensor';

/**
 * A copy of a bufbuild message that shares every field value with the original. bufbuild keeps
 * proto2 defaults on the prototype and set fields as own properties, so both are carried over.
 */
export function shallowCopy<T extends object>(message: T, changes: Partial<T> = {}): T {
  const copy = Object.create(Object.getPrototypeOf(message) as object) as T;
  return Object.assign(copy, message, changes);
}

/** The bodies a node holds (If branches, Loop/Scan bodies), in attribute order. */
export function nodeSubgraphs(node: NodeProto): GraphProto[] {
  return node.attribute.flatMap((a) => (a.g ? [a.g, ...a.graphs] : a.graphs));
}

/** Every initializer of the model, subgraphs (If/Loop/Scan bodies) included. */
export function* allInitializers(graph: GraphProto): Generator<TensorProto> {
  yield* graph.initializer;
  for (const node of graph.node) for (const g of nodeSubgraphs(node)) yield* allInitializers(g);
}

/** Constant values that are weights: floating point and more than one value, not the shape and scalar constants every exporter writes as nodes. */
const isWeightValue = (t: TensorProto) => isFloatDType(dtypeOf(t.dataType)) && tensorElementCount(t) > 1;

/**
 * Every tensor a graph stores as parameters, subgraphs included: initializers and the weights held
 * by Constant nodes (where paddle2onnx, tf2onnx and spox keep them).
 */
export function* storedTensors(graph: GraphProto): Generator<TensorProto> {
  yield* graph.initializer;
  for (const node of graph.node) {
    const value = node.opType === 'Constant' && (node.domain === '' || node.domain === 'ai.onnx') ? node.attribute.find((a) => a.name === 'value')?.t : undefined;
    if (value && isWeightValue(value)) yield value;
    for (const g of nodeSubgraphs(node)) yield* storedTensors(g);
  }
}

/** Every name a graph uses (nodes, values, initializers), its subgraphs' included. */
export function allNames(graph: GraphProto, into = new Set<string>()): Set<string> {
  for (const v of [...graph.input, ...graph.output, ...graph.valueInfo]) into.add(v.name);
  for (const t of graph.initializer) into.add(t.name);
  for (const n of graph.node) {
    if (n.name) into.add(n.name);
    for (const x of [...n.input, ...n.output]) if (x) into.add(x);
    for (const g of nodeSubgraphs(n)) allNames(g, into);
  }
  return into;
}

/**
 * A new model where each initializer (subgraphs included) is replaced by `fn`'s result.
 * Unchanged parts are shared with the input, which is never mutated.
 */
export function mapInitializers(model: ModelProto, fn: (t: TensorProto) => TensorProto): ModelProto {
  if (!model.graph) return model;
  const graph = mapGraph(model.graph, fn);
  return graph === model.graph ? model : shallowCopy(model, { graph });
}

function mapGraph(graph: GraphProto, fn: (t: TensorProto) => TensorProto): GraphProto {
  let changed = false;
  const initializer = graph.initializer.map((t) => {
    const next = fn(t);
    if (next !== t) changed = true;
    return next;
  });
  const node = graph.node.map((n) => {
    const next = mapNode(n, fn);
    if (next !== n) changed = true;
    return next;
  });
  return changed ? shallowCopy(graph, { initializer, node }) : graph;
}

function mapNode(node: NodeProto, fn: (t: TensorProto) => TensorProto): NodeProto {
  let changed = false;
  const attribute = node.attribute.map((a) => {
    const next = mapAttribute(a, fn);
    if (next !== a) changed = true;
    return next;
  });
  return changed ? shallowCopy(node, { attribute }) : node;
}

function mapAttribute(attr: AttributeProto, fn: (t: TensorProto) => TensorProto): AttributeProto {
  if (!attr.g && attr.graphs.length === 0) return attr;
  const g = attr.g ? mapGraph(attr.g, fn) : undefined;
  const graphs = attr.graphs.map((x) => mapGraph(x, fn));
  if (g === attr.g && graphs.every((x, i) => x === attr.graphs[i])) return attr;
  return g ? shallowCopy(attr, { g, graphs }) : shallowCopy(attr, { graphs });
}
