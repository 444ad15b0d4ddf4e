import { create } from '@bufbuild/protobuf';
import { MmkitError } from '../errors';
import { attrFloat, attrFloats, attrInt, attrInts, attrString, attrTensor } from './attrs';
import { dtypeOf, type DType } from './dtype';
import { OperatorSetIdProtoSchema, type GraphProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from './proto';
import { tensorDims } from './tensor';
import { makeValueInfo, readValueType, type Dim, type ValueType } from './values';
import { allNames, shallowCopy } from './walk';

/** Outer-scope names a node reads, including those its subgraphs (If/Loop/Scan bodies) use implicitly. */
export function nodeReads(node: NodeProto): string[] {
  const names = node.input.filter((n) => n !== '');
  for (const attr of node.attribute) {
    for (const g of attr.g ? [attr.g, ...attr.graphs] : attr.graphs) names.push(...outerReads(g));
  }
  return names;
}

/** Names a graph (an If/Loop/Scan body) reads from the scopes around it, nested bodies' reads included. */
export function outerReads(graph: GraphProto): string[] {
  const defined = new Set<string>([...graph.input.map((v) => v.name), ...graph.initializer.map((t) => t.name)]);
  const reads: string[] = [];
  for (const n of graph.node) {
    for (const name of nodeReads(n)) if (!defined.has(name)) reads.push(name);
    for (const o of n.output) defined.add(o);
  }
  return reads;
}

/**
 * Orders nodes so every node follows the producers of its inputs, keeping the given order
 * wherever it is already valid. Throws BAD_MODEL on a cycle.
 */
export function topoSort(nodes: readonly NodeProto[]): NodeProto[] {
  const producerIndex = new Map<string, number>();
  nodes.forEach((n, i) => n.output.forEach((o) => o && producerIndex.set(o, i)));
  const waitingOn = nodes.map(() => 0);
  const dependents: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => {
    const deps = new Set<number>();
    for (const name of nodeReads(n)) {
      const p = producerIndex.get(name);
      if (p !== undefined && p !== i) deps.add(p);
    }
    waitingOn[i] = deps.size;
    for (const p of deps) dependents[p].push(i);
  });
  // Ready nodes are taken lowest index first, so an already sorted list comes back unchanged.
  const ready = new MinHeap();
  waitingOn.forEach((w, i) => w === 0 && ready.push(i));
  const order: NodeProto[] = [];
  while (ready.size > 0) {
    const i = ready.pop();
    order.push(nodes[i]);
    for (const d of dependents[i]) if (--waitingOn[d] === 0) ready.push(d);
  }
  if (order.length !== nodes.length) {
    const stuck = nodes.find((_, i) => waitingOn[i] > 0);
    throw new MmkitError('BAD_MODEL', `The graph has a cycle through node '${stuck?.name || stuck?.opType}'.`, {
      node: stuck?.name,
      hint: 'ONNX graphs must be acyclic; check the edit that rewired this node.',
    });
  }
  return order;
}

class MinHeap {
  private readonly items: number[] = [];
  get size(): number {
    return this.items.length;
  }
  push(v: number): void {
    const a = this.items;
    a.push(v);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= a[i]) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }
  pop(): number {
    const a = this.items;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l] < a[m]) m = l;
        if (r < a.length && a[r] < a[m]) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}

// Ops whose output has the element type of their first input (cheap dtype inference).
const SAME_DTYPE_OPS = new Set([
  'Add', 'Sub', 'Mul', 'Div', 'MatMul', 'Gemm', 'Relu', 'Gelu', 'Erf', 'Tanh', 'Sigmoid', 'Softmax', 'LayerNormalization',
  'Reshape', 'Transpose', 'Flatten', 'Squeeze', 'Unsqueeze', 'Concat', 'Slice', 'Gather', 'Conv', 'Identity', 'Sqrt',
  'Pow', 'ReduceMean', 'Neg', 'Expand', 'Split', 'GlobalAveragePool', 'AveragePool', 'MaxPool', 'Where',
]);

/** The element type of a standard node's output `name`, from its inputs' types (undefined when not cheap to tell). */
function producedDtype(node: NodeProto, name: string, dtypeOfInput: (name: string) => DType | undefined): DType | undefined {
  if (node.domain !== '') return undefined;
  if (node.opType === 'If') {
    // An If's outputs have the types its branches declare for theirs.
    const branch = node.attribute.find((a) => a.name === 'then_branch')?.g;
    return readValueType(branch?.output[node.output.indexOf(name)]?.type).dtype;
  }
  if (node.opType === 'Cast') {
    const to = attrInt(node, 'to');
    return to === undefined ? undefined : dtypeOf(to);
  }
  if (node.opType === 'Shape') return 'int64';
  if (!SAME_DTYPE_OPS.has(node.opType)) return undefined;
  const first = node.opType === 'Where' ? node.input[1] : node.input[0];
  return first ? dtypeOfInput(first) : undefined;
}

/** A read-only index over a model's main graph, for passes and pattern matching. */
export class GraphView {
  readonly model: ModelProto;
  readonly graph: GraphProto;
  /** Nodes in topological order. */
  readonly nodes: NodeProto[];
  /** Graph inputs that are not initializers. */
  readonly inputs: ValueInfoProto[];
  readonly outputs: ValueInfoProto[];
  /** All initializers, in file order. */
  readonly initializers: readonly TensorProto[];
  private readonly initializerByName: Map<string, TensorProto>;
  private readonly producers = new Map<string, NodeProto>();
  private readonly consumerLists = new Map<string, NodeProto[]>();
  private readonly declared = new Map<string, ValueInfoProto>();
  private readonly inferred = new Map<string, ValueType>();

  private constructor(model: ModelProto) {
    if (!model.graph) throw new MmkitError('BAD_MODEL', 'The model has no graph.', { hint: 'Load a complete .onnx model.' });
    this.model = model;
    this.graph = model.graph;
    this.nodes = topoSort(model.graph.node);
    this.initializers = model.graph.initializer;
    this.initializerByName = new Map(model.graph.initializer.map((t) => [t.name, t]));
    this.inputs = model.graph.input.filter((v) => !this.initializerByName.has(v.name));
    this.outputs = model.graph.output;
    for (const n of this.nodes) {
      for (const o of n.output) if (o) this.producers.set(o, n);
      for (const name of new Set(nodeReads(n))) {
        const list = this.consumerLists.get(name);
        if (list) list.push(n);
        else this.consumerLists.set(name, [n]);
      }
    }
    for (const v of [...model.graph.valueInfo, ...model.graph.input, ...model.graph.output]) this.declared.set(v.name, v);
  }

  private static readonly cache = new WeakMap<ModelProto, GraphView>();

  /** The view of a model (cached per ModelProto: models are treated as immutable). */
  static of(model: ModelProto): GraphView {
    let view = GraphView.cache.get(model);
    if (!view) {
      view = new GraphView(model);
      GraphView.cache.set(model, view);
    }
    return view;
  }

  initializer(name: string): TensorProto | undefined {
    return this.initializerByName.get(name);
  }

  isInitializer(name: string): boolean {
    return this.initializerByName.has(name);
  }

  producer(name: string): NodeProto | undefined {
    return this.producers.get(name);
  }

  /** Nodes reading `name` (each once, in topological order). */
  consumers(name: string): NodeProto[] {
    return this.consumerLists.get(name) ?? [];
  }

  isGraphOutput(name: string): boolean {
    return this.outputs.some((o) => o.name === name);
  }

  /** The tensor behind a name when it is constant: an initializer or a Constant node's value, through Identity nodes. */
  constantTensor(name: string): TensorProto | undefined {
    return this.constantSource(name)?.tensor;
  }

  /**
   * Where a constant value really lives: `name` is the initializer (or Constant output) reached by
   * following Identity nodes, which torch's exporter inserts for deduplicated weights.
   */
  constantSource(name: string): { name: string; tensor: TensorProto } | undefined {
    for (let hops = 0; hops < 16; hops++) {
      const init = this.initializerByName.get(name);
      if (init) return { name, tensor: init };
      const p = this.producers.get(name);
      if (!p || p.domain !== '') return undefined;
      if (p.opType === 'Constant') {
        const t = attrTensor(p, 'value');
        return t ? { name, tensor: t } : undefined;
      }
      if (p.opType !== 'Identity') return undefined;
      name = p.input[0];
    }
    return undefined;
  }

  /** dtype and shape from the declared value infos and initializers, else cheap dtype inference. */
  valueInfo(name: string): ValueType {
    const known = this.declared.get(name);
    if (known) return readValueType(known.type);
    const t = this.constantTensor(name);
    if (t) return { dtype: dtypeOf(t.dataType), shape: tensorDims(t) };
    const cached = this.inferred.get(name);
    if (cached) return cached;
    const result: ValueType = {};
    this.inferred.set(name, result); // guards against revisiting during the walk below
    const p = this.producers.get(name);
    const dtype = p && producedDtype(p, name, (input) => this.valueInfo(input).dtype);
    if (dtype) result.dtype = dtype;
    return result;
  }

  /** The opset version imported for a domain ('' = standard ONNX, 'ai.onnx' too). */
  opset(domain = ''): number | undefined {
    const want = domain === 'ai.onnx' ? '' : domain;
    const entry = this.model.opsetImport.find((o) => (o.domain === 'ai.onnx' ? '' : o.domain) === want);
    return entry ? Number(entry.version) : undefined;
  }

  attrInt(node: NodeProto, name: string): number | undefined;
  attrInt(node: NodeProto, name: string, fallback: number): number;
  attrInt(node: NodeProto, name: string, fallback?: number): number | undefined {
    return attrInt(node, name) ?? fallback;
  }
  attrFloat(node: NodeProto, name: string): number | undefined;
  attrFloat(node: NodeProto, name: string, fallback: number): number;
  attrFloat(node: NodeProto, name: string, fallback?: number): number | undefined {
    return attrFloat(node, name) ?? fallback;
  }
  attrInts(node: NodeProto, name: string): number[] | undefined {
    return attrInts(node, name);
  }
  attrFloats(node: NodeProto, name: string): number[] | undefined {
    return attrFloats(node, name);
  }
  attrString(node: NodeProto, name: string): string | undefined {
    return attrString(node, name);
  }
  attrTensor(node: NodeProto, name: string): TensorProto | undefined {
    return attrTensor(node, name);
  }
}

const reserved = new WeakMap<ModelProto, ReadonlySet<string>>();

/**
 * Names GraphEditor must not hand out when it edits `model`: a graph taken out of a bigger model
 * (an If branch as a model of its own) shares one value namespace with the scopes around it.
 */
export function reserveNames(model: ModelProto, names: ReadonlySet<string>): void {
  reserved.set(model, names);
}

export interface Placement {
  before?: NodeProto;
  after?: NodeProto;
}

/**
 * Edits on a working copy of a graph's lists. Nodes and tensors that are not touched stay the
 * very objects of the input model; a node that changes is replaced by a copy.
 */
export class GraphEditor {
  /** The input model, read-only. */
  readonly view: GraphView;
  /** Graph inputs, outputs and value infos of the result; edit these lists freely. */
  readonly graphInputs: ValueInfoProto[];
  readonly graphOutputs: ValueInfoProto[];
  readonly valueInfos: ValueInfoProto[];
  private nodes: NodeProto[];
  private readonly initializers: Map<string, TensorProto>;
  private readonly opsets: Map<string, bigint>;
  private readonly replaced = new Map<NodeProto, NodeProto>();
  private readonly names = new Set<string>();
  private pruneRequested = false;

  constructor(model: ModelProto) {
    this.view = GraphView.of(model);
    const g = this.view.graph;
    this.nodes = [...this.view.nodes];
    this.initializers = new Map(g.initializer.map((t) => [t.name, t]));
    this.graphInputs = [...g.input];
    this.graphOutputs = [...g.output];
    this.valueInfos = [...g.valueInfo];
    this.opsets = new Map(model.opsetImport.map((o) => [o.domain, o.version]));
    // Names of nested bodies and of the scopes around this graph too: a new name must shadow none.
    for (const name of allNames(g)) this.names.add(name);
    for (const name of reserved.get(model) ?? []) this.names.add(name);
  }

  /** The current version of a node (after renameInput and the like replaced it). */
  current(node: NodeProto): NodeProto {
    let n = node;
    while (this.replaced.has(n)) n = this.replaced.get(n)!;
    return n;
  }

  private indexOf(node: NodeProto): number {
    const i = this.nodes.indexOf(this.current(node));
    if (i < 0) {
      throw new MmkitError('BAD_OPTION', `Node '${node.name || node.opType}' is not in the graph being edited.`, {
        node: node.name,
        hint: 'It may have been removed or replaced earlier in this edit.',
      });
    }
    return i;
  }

  /** A value/node name not used anywhere in the graph yet (and reserved from now on). */
  uniqueName(prefix: string): string {
    let name = prefix;
    for (let i = 1; this.names.has(name); i++) name = `${prefix}_${i}`;
    this.names.add(name);
    return name;
  }

  initializer(name: string): TensorProto | undefined {
    return this.initializers.get(name);
  }

  addInitializer(t: TensorProto): void {
    if (this.initializers.has(t.name)) {
      throw new MmkitError('BAD_OPTION', `Initializer '${t.name}' already exists.`, { tensor: t.name, hint: 'Use replaceInitializer, or uniqueName() for a fresh name.' });
    }
    this.initializers.set(t.name, t);
    this.names.add(t.name);
  }

  /** Swaps an initializer's tensor in place (same position in the file); the name stays `name`. */
  replaceInitializer(name: string, t: TensorProto): void {
    if (!this.initializers.has(name)) {
      throw new MmkitError('UNKNOWN_TENSOR', `There is no initializer '${name}' to replace.`, { tensor: name, hint: 'Use addInitializer for new tensors.' });
    }
    this.initializers.set(name, t.name === name ? t : shallowCopy(t, { name }));
  }

  removeInitializer(name: string): void {
    this.initializers.delete(name);
  }

  addNode(node: NodeProto, at: Placement = {}): void {
    let i = this.nodes.length;
    if (at.before) i = this.indexOf(at.before);
    else if (at.after) i = this.indexOf(at.after) + 1;
    this.nodes.splice(i, 0, node);
    this.reserve(node);
  }

  /** Puts `replacements` where `old` was (no replacements: same as removeNode). */
  replaceNode(old: NodeProto, ...replacements: NodeProto[]): void {
    const i = this.indexOf(old);
    const gone = this.nodes[i];
    this.nodes.splice(i, 1, ...replacements);
    replacements.forEach((n) => this.reserve(n));
    if (replacements.length === 1) this.replaced.set(gone, replacements[0]);
  }

  removeNode(node: NodeProto): void {
    this.nodes.splice(this.indexOf(node), 1);
  }

  /** Points input `index` of `node` at `newName` (the node is replaced by an edited copy). */
  renameInput(node: NodeProto, index: number, newName: string): NodeProto {
    const i = this.indexOf(node);
    const cur = this.nodes[i];
    if (index < 0 || index >= cur.input.length) {
      throw new MmkitError('BAD_OPTION', `Node '${cur.name || cur.opType}' has no input ${index}.`, { node: cur.name });
    }
    const input = [...cur.input];
    input[index] = newName;
    const next = shallowCopy(cur, { input });
    this.nodes[i] = next;
    this.replaced.set(cur, next);
    return next;
  }

  /** Makes every node that reads `name` read `newName` instead (graph outputs are left alone). */
  replaceUses(name: string, newName: string): void {
    for (const n of [...this.nodes]) {
      n.input.forEach((x, k) => x === name && this.renameInput(n, k, newName));
    }
  }

  /** Declares a graph output; dtype/shape default to what the view knows of the value. */
  addOutput(name: string, dtype?: DType, shape?: readonly Dim[]): void {
    if (this.graphOutputs.some((o) => o.name === name)) return;
    const known = this.view.valueInfo(name);
    const d = dtype ?? known.dtype ?? this.inferDtype(name);
    if (!d) {
      throw new MmkitError('BAD_OPTION', `The element type of '${name}' is unknown, so it cannot become an output without a dtype.`, {
        tensor: name,
        hint: 'Pass the dtype: addOutput(name, "float32").',
      });
    }
    this.graphOutputs.push(makeValueInfo(name, d, shape ?? known.shape));
  }

  /** dtype of a value produced by a node added in this edit, following same-type ops back to known values. */
  private inferDtype(name: string, depth = 0): DType | undefined {
    const known = this.view.valueInfo(name).dtype;
    if (known || depth > 64) return known;
    const p = this.nodes.find((n) => n.output.includes(name));
    return p && producedDtype(p, name, (input) => this.inferDtype(input, depth + 1));
  }

  setOpset(domain: string, version: number): void {
    this.opsets.set(domain, BigInt(version));
  }

  /** Drops nodes whose outputs nobody reads and initializers nobody uses, when the edit ends. */
  prune(): void {
    this.pruneRequested = true;
  }

  private reserve(node: NodeProto): void {
    if (node.name) this.names.add(node.name);
    node.output.forEach((o) => this.names.add(o));
  }

  /** The edited model: new containers, untouched nodes and tensors shared with the input. */
  finish(): ModelProto {
    let nodes = topoSort(this.nodes);
    let initializers = [...this.initializers.values()];
    if (this.pruneRequested) ({ nodes, initializers } = pruneDead(nodes, initializers, this.graphOutputs));
    const kept = new Set(initializers.map((t) => t.name));
    const produced = new Set(nodes.flatMap((n) => n.output));
    const original = this.view.graph;
    const graph = shallowCopy(original, {
      node: nodes,
      initializer: initializers,
      // Graph inputs that only existed to expose a removed initializer go with it.
      input: this.graphInputs.filter((v) => kept.has(v.name) || !original.initializer.some((t) => t.name === v.name)),
      output: this.graphOutputs,
      valueInfo: this.valueInfos.filter((v) => produced.has(v.name) || kept.has(v.name)),
    });
    const opsetImport = [...this.opsets].map(([domain, version]) => {
      const old = this.view.model.opsetImport.find((o) => o.domain === domain && o.version === version);
      return old ?? create(OperatorSetIdProtoSchema, { domain, version });
    });
    return shallowCopy(this.view.model, { graph, opsetImport });
  }
}

function pruneDead(nodes: NodeProto[], initializers: TensorProto[], outputs: readonly ValueInfoProto[]) {
  const live = new Set(outputs.map((o) => o.name));
  const keptNodes: NodeProto[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    if (n.output.some((o) => live.has(o))) {
      keptNodes.push(n);
      for (const x of nodeReads(n)) live.add(x);
    }
  }
  return { nodes: keptNodes.reverse(), initializers: initializers.filter((t) => live.has(t.name)) };
}

/**
 * Applies `edit` to a copy of the model. The input is never mutated, and nodes and tensors the
 * edit does not touch are shared by reference (no weight is copied).
 */
export function editModel(model: ModelProto, edit: (e: GraphEditor) => void): ModelProto {
  const editor = new GraphEditor(model);
  edit(editor);
  return editor.finish();
}
