import type { AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto } from './proto';

/**
 * A copy of a bufbuild message that shares every field value with the original. bufbuild keeps
 * proto2 defaults on the prototype and set fields as own properties, so both are carried over.
 */
export function shallowCopy<T extends object>(message: T, changes: Partial<T> = {}): T {
  const copy = Object.create(Object.getPrototypeOf(message) as object) as T;
  return Object.assign(copy, message, changes);
}

/** Every initializer of the model, subgraphs (If/Loop/Scan bodies) included. */
export function* allInitializers(graph: GraphProto): Generator<TensorProto> {
  yield* graph.initializer;
  for (const node of graph.node) {
    for (const attr of node.attribute) {
      if (attr.g) yield* allInitializers(attr.g);
      for (const g of attr.graphs) yield* allInitializers(g);
    }
  }
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
