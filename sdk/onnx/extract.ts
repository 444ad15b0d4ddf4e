/**
 * The sub-model that computes chosen tensors from chosen tensors, as onnx.utils.extract_model:
 * walk back from the outputs until the inputs, keep the nodes, initializers, value infos, opset
 * imports and local functions met on the way. The input model is never mutated; kept nodes and
 * tensors (external-data ones included) are shared with it, not copied.
 */
import { MmkitError } from '../errors';
import { GraphView, nodeReads } from './graph';
import type { FunctionProto, GraphProto, NodeProto, OperatorSetIdProto, ValueInfoProto } from './proto';
import { derivedModel, type OnnxModel } from './read';
import { makeValueInfo, type Dim } from './values';
import { shallowCopy } from './walk';

export interface ExtractSpec {
  /** What the sub-model takes: graph inputs, or intermediate tensors to cut the graph at. */
  inputs: readonly string[];
  /** What the sub-model computes. */
  outputs: readonly string[];
}

/** What computing some outputs needs, walking back until the given inputs. */
export interface GraphSlice {
  /** The nodes to run, in topological order. */
  nodes: NodeProto[];
  /** Names of the initializers they read. */
  initializers: Set<string>;
  /** The listed inputs the walk reached. */
  reachedInputs: Set<string>;
  /** Graph inputs the walk reached that are not listed, each with the output that needs it. */
  unlisted: Map<string, string>;
}

/** The part of the graph behind `spec.outputs`, stopping at `spec.inputs`. Throws UNKNOWN_TENSOR for a name the graph lacks. */
export function sliceGraph(view: GraphView, spec: ExtractSpec): GraphSlice {
  const graphInputs = new Set(view.graph.input.map((v) => v.name));
  const defined = (name: string): boolean => graphInputs.has(name) || view.isInitializer(name) || view.producer(name) !== undefined;
  for (const [role, names] of [['input', spec.inputs], ['output', spec.outputs]] as const) {
    for (const name of names) {
      if (!defined(name)) {
        throw new MmkitError('UNKNOWN_TENSOR', `Tensor '${name}', asked for as a sub-model ${role}, is not in the graph.`, {
          tensor: name,
          hint: 'Use the name of a graph input, an initializer or a node output (see GraphView.nodes).',
        });
      }
    }
  }
  const listed = new Set(spec.inputs);
  const kept = new Set<NodeProto>();
  const slice: GraphSlice = { nodes: [], initializers: new Set(), reachedInputs: new Set(), unlisted: new Map() };
  const seen = new Set<string>();
  for (const output of spec.outputs) {
    const stack = [output];
    while (stack.length > 0) {
      const name = stack.pop()!;
      if (seen.has(name)) continue;
      seen.add(name);
      const producer = view.producer(name);
      if (listed.has(name)) slice.reachedInputs.add(name);
      else if (view.isInitializer(name)) slice.initializers.add(name);
      else if (producer) {
        kept.add(producer);
        stack.push(...nodeReads(producer));
      } else if (graphInputs.has(name)) slice.unlisted.set(name, output);
      else {
        throw new MmkitError('BAD_MODEL', `Tensor '${name}' is read by the graph but nothing defines it.`, {
          tensor: name,
          hint: 'The model is damaged: every name a node reads must be a graph input, an initializer or another node output.',
        });
      }
    }
  }
  slice.nodes = view.nodes.filter((n) => kept.has(n));
  return slice;
}

/**
 * The sub-model that computes `spec.outputs` from `spec.inputs`. It keeps the source's baseDir,
 * so initializers whose bytes live in external data files stay readable.
 */
export function extractModel(model: OnnxModel, spec: ExtractSpec): OnnxModel {
  if (spec.outputs.length === 0) {
    throw new MmkitError('BAD_OPTION', 'extractModel needs at least one output.', { hint: 'List the tensors the sub-model must compute in `outputs`.' });
  }
  const view = GraphView.of(model.proto);
  const label = model.path ?? 'the model';
  const inputs = [...new Set(spec.inputs)];
  const outputs = [...new Set(spec.outputs)];
  const slice = sliceGraph(view, { inputs, outputs });
  const [missing] = slice.unlisted;
  if (missing) {
    const [input, output] = missing;
    throw new MmkitError('BAD_MODEL', `Output '${output}' of ${label} depends on graph input '${input}', which is not among the sub-model's inputs (${inputs.join(', ') || 'none'}).`, {
      tensor: input,
      file: model.path,
      hint: `Add '${input}' to the inputs, or cut at tensors that are computed from the listed inputs only.`,
    });
  }
  for (const node of slice.nodes) {
    const clash = node.output.find((o) => inputs.includes(o));
    if (clash) {
      throw new MmkitError('BAD_MODEL', `Tensor '${clash}' is listed as an input, but node '${node.name || node.opType}', which the outputs need for its other outputs, also produces it.`, {
        tensor: clash,
        node: node.name,
        hint: `Cut at all of that node's outputs (${node.output.filter(Boolean).join(', ')}), or at its inputs.`,
      });
    }
  }

  const graph = view.graph;
  const declared = declaredValueInfos(graph);
  const valueInfo = (name: string): ValueInfoProto => declared.get(name) ?? inferredValueInfo(view, name, label);
  const initializer = graph.initializer.filter((t) => slice.initializers.has(t.name));
  // IR < 4 models list initializers among the graph inputs too; keep that where the source did.
  const initializerInputs = graph.input.filter((v) => slice.initializers.has(v.name));
  const produced = new Set(slice.nodes.flatMap((n) => n.output));
  const functions = usedFunctions(slice.nodes, model.proto.functions);
  const sub = shallowCopy(graph, {
    node: slice.nodes,
    input: [...inputs.map(valueInfo), ...initializerInputs],
    output: outputs.map(valueInfo),
    initializer,
    // parseModel densifies sparse initializers and GraphView reads only dense ones: none is needed here.
    sparseInitializer: [],
    valueInfo: graph.valueInfo.filter((v) => produced.has(v.name) && !outputs.includes(v.name)),
  });
  const proto = shallowCopy(model.proto, { graph: sub, functions, opsetImport: usedOpsets(model.proto.opsetImport, slice.nodes, functions) });
  return derivedModel(model, proto);
}

/** The value infos the graph declares, by name; a graph input's wins over an output's or an intermediate's. */
function declaredValueInfos(graph: GraphProto): Map<string, ValueInfoProto> {
  const byName = new Map<string, ValueInfoProto>();
  for (const v of [...graph.valueInfo, ...graph.output, ...graph.input]) byName.set(v.name, v);
  return byName;
}

/** A value info for a tensor the graph declares nothing about (an initializer's dims, or what GraphView infers). */
function inferredValueInfo(view: GraphView, name: string, label: string): ValueInfoProto {
  const { dtype, shape = sameShapeNeighbour(view, name) } = view.valueInfo(name);
  if (!dtype) {
    throw new MmkitError('BAD_MODEL', `The element type of tensor '${name}' in ${label} is unknown, so it cannot become a sub-model input or output.`, {
      tensor: name,
      hint: 'Run ONNX shape inference on the model first (onnx.shape_inference.infer_shapes) so its value_info records the type, or cut at a tensor whose type is declared.',
    });
  }
  return makeValueInfo(name, dtype, shape);
}

const keepsShape = (n: NodeProto): boolean => n.domain === '' && (n.opType === 'Cast' || n.opType === 'Identity');

/**
 * The shape of a Cast/Identity's input or output, which the other end shares: a float16 model's
 * undeclared internal tensors mostly sit one Cast away from a declared float32 input or output.
 */
function sameShapeNeighbour(view: GraphView, name: string): Dim[] | undefined {
  const producer = view.producer(name);
  const neighbours = [...(producer && keepsShape(producer) ? [producer.input[0]] : []), ...view.consumers(name).filter(keepsShape).map((c) => c.output[0])];
  return neighbours.map((n) => view.valueInfo(n).shape).find((shape) => shape !== undefined);
}

const functionKey = (domain: string, name: string): string => `${domain}\u0000${name}`;

/** Every node, including those inside subgraphs (If/Loop/Scan bodies). */
function* allNodes(nodes: readonly NodeProto[]): Generator<NodeProto> {
  for (const n of nodes) {
    yield n;
    for (const a of n.attribute) for (const g of a.g ? [a.g, ...a.graphs] : a.graphs) yield* allNodes(g.node);
  }
}

/** The model-local functions the nodes call, directly or through other functions. */
function usedFunctions(nodes: readonly NodeProto[], functions: readonly FunctionProto[]): FunctionProto[] {
  const byKey = new Map(functions.map((f) => [functionKey(f.domain, f.name), f]));
  const used = new Set<FunctionProto>();
  const visit = (calls: readonly NodeProto[]): void => {
    for (const n of allNodes(calls)) {
      const f = byKey.get(functionKey(n.domain, n.opType));
      if (f && !used.has(f)) {
        used.add(f);
        visit(f.node);
      }
    }
  };
  visit(nodes);
  return functions.filter((f) => used.has(f));
}

/** The opset imports the kept nodes and functions need; the default domain always stays. */
function usedOpsets(opsets: readonly OperatorSetIdProto[], nodes: readonly NodeProto[], functions: readonly FunctionProto[]): OperatorSetIdProto[] {
  const domains = new Set(['', 'ai.onnx']);
  for (const n of allNodes([...nodes, ...functions.flatMap((f) => f.node)])) domains.add(n.domain);
  return opsets.filter((o) => domains.has(o.domain));
}
