import { create } from '@bufbuild/protobuf';
import { MmkitError } from '../errors';
import { shallowCopy, ValueInfoProtoSchema, type ModelProto } from '../onnx';
import { suggestion } from './names';

/** Every tensor name of the main graph that can be tapped: inputs, initializers, node outputs. */
export function tensorNames(proto: ModelProto): string[] {
  const g = proto.graph;
  if (!g) return [];
  const names = new Set<string>();
  for (const i of g.input) names.add(i.name);
  for (const t of g.initializer) names.add(t.name);
  for (const n of g.node) for (const o of n.output) if (o) names.add(o);
  return [...names];
}

/**
 * A copy of the model that also outputs the named intermediate tensors. The extra outputs carry
 * only their names: onnxruntime 1.30 infers their types and shapes (checked), and since a graph
 * output survives every optimisation, the tapped values are exactly those the model computes.
 */
export function withTaps(proto: ModelProto, taps: readonly string[]): ModelProto {
  const known = tensorNames(proto);
  const knownSet = new Set(known);
  for (const name of taps) {
    if (!knownSet.has(name)) {
      throw new MmkitError('UNKNOWN_TENSOR', `The model has no tensor '${name}' to tap.`, { tensor: name, hint: suggestion(name, known) });
    }
  }
  const graph = proto.graph!;
  const present = new Set(graph.output.map((o) => o.name));
  const extra = taps.filter((name) => !present.has(name)).map((name) => create(ValueInfoProtoSchema, { name }));
  // Shallow copies: the new model shares nodes and initializers with the input, which stays untouched.
  return shallowCopy(proto, { graph: shallowCopy(graph, { output: [...graph.output, ...extra] }) });
}
