/**
 * Physically removes units from a prune group: slices producer columns, biases and consumer rows,
 * and, for heads, rewrites the head-split and head-merge Reshape shapes of the block.
 */
import { MmkitError } from '../../errors';
import { dtypeOf, makeTensor, tensorArray, tensorDims, type GraphEditor, type GraphView, type LinearMatch, type NodeProto, type OnnxModel, type TensorProto } from '../../onnx';
import type { PruneGroup } from './structured-groups';
import { weightOf } from './structured-scores';
import { consumerRows, keepEntries, keepInputs, keepOutputs, producerColumns } from './structured-slices';

/**
 * Points input `index` of `n` at a new constant made by `make(name)`: in place when `n` is the only
 * reader of an initializer there, else as a new initializer.
 */
function setConstantInput(e: GraphEditor, n: NodeProto, index: number, make: (name: string) => TensorProto): void {
  const current = n.input[index];
  const readers = e.view.consumers(current);
  if (e.view.isInitializer(current) && readers.length === 1 && readers[0] === n && !e.view.isGraphOutput(current)) {
    e.replaceInitializer(current, make(current));
    return;
  }
  const name = e.uniqueName(`${current}_pruned`);
  e.addInitializer(make(name));
  e.renameInput(n, index, name);
}

/** Where a linear reads its bias: the Add's non-MatMul input, or Gemm's third input. */
function biasInput(m: LinearMatch): { node: NodeProto; index: number } | undefined {
  if (m.bias === undefined) return undefined;
  if (m.add) return { node: m.add, index: m.add.input[0] === m.matmul.output[0] ? 1 : 0 };
  return { node: m.matmul, index: 2 };
}

function sliceBias(e: GraphEditor, model: OnnxModel, m: LinearMatch, keep: readonly number[]): void {
  const at = biasInput(m);
  if (!at) return;
  const t = e.view.constantTensor(at.node.input[at.index])!;
  const dims = tensorDims(t);
  const data = keepEntries(tensorArray(t, model) as Float32Array, keep);
  setConstantInput(e, at.node, at.index, (name) => makeTensor(name, 'float32', [...dims.slice(0, -1), keep.length], data));
}

/** A sliced 2-D weight with the dims a linear's weight has beyond its two (a 1×1 Conv's kernel). */
function weightTensor(view: GraphView, m: LinearMatch, w: { data: Float32Array; dims: number[] }): (name: string) => TensorProto {
  const kernel = tensorDims(view.initializer(m.weight)!).slice(2);
  return (name) => makeTensor(name, 'float32', [...w.dims, ...kernel], w.data);
}

/** Slices every weight and bias of the group down to the kept units. */
export function sliceGroupWeights(e: GraphEditor, model: OnnxModel, g: PruneGroup, kept: readonly number[]): void {
  const view = e.view;
  const cols = producerColumns(g, kept);
  for (const m of g.producers) {
    setConstantInput(e, m.matmul, 1, weightTensor(view, m, keepOutputs(weightOf(view, model, m.weight), m, cols)));
    sliceBias(e, model, m, cols);
  }
  const c = g.consumer;
  setConstantInput(e, c.matmul, 1, weightTensor(view, c, keepInputs(weightOf(view, model, c.weight), c, consumerRows(g, kept))));
}

const SPLIT_PATH = new Set(['Transpose', 'Reshape', 'Slice', 'Squeeze', 'Unsqueeze', 'Gather', 'Split', 'Cast', 'Identity', 'Div', 'Mul']);
const SHAPE_PATH = new Set(['Unsqueeze', 'Squeeze', 'Cast', 'Identity']);

/** The Reshape nodes between a head's linear and the attention MatMul input `name`. */
function splitReshapes(view: GraphView, name: string, linearOutputs: ReadonlySet<string>): NodeProto[] {
  const found: NodeProto[] = [];
  for (let hops = 0; hops < 12 && !linearOutputs.has(name); hops++) {
    const p = view.producer(name);
    if (!p || !SPLIT_PATH.has(p.opType)) break;
    if (p.opType === 'Reshape') found.push(p);
    name = p.input[0];
  }
  return found;
}

/** The Reshape nodes between the context MatMul and the output projection. */
function mergeReshapes(view: GraphView, from: string, to: string): NodeProto[] {
  const found: NodeProto[] = [];
  let name = from;
  for (let hops = 0; hops < 6 && name !== to; hops++) {
    const next = view.consumers(name)[0];
    if (!next) break;
    if (next.opType === 'Reshape') found.push(next);
    name = next.output[0];
  }
  return found;
}

function int64Values(t: TensorProto): number[] {
  return Array.from(tensorArray(t) as BigInt64Array, Number);
}

function int64Tensor(name: string, values: readonly number[], dims: readonly number[] = [values.length]): TensorProto {
  return makeTensor(name, 'int64', dims, BigInt64Array.from(values, BigInt));
}

/** Runtime-computed head counts rewritten so far (torch computes batch·num_heads with a Mul). */
export type HeadCountEdits = Map<NodeProto, number>;

/**
 * A runtime shape (a Concat of scalars, as torch exports it): the Mul by the constant num_heads
 * feeding one of its elements gets the kept head count instead.
 */
function rewriteRuntimeHeadCount(e: GraphEditor, g: PruneGroup, concat: NodeProto, kept: number, edits: HeadCountEdits): boolean {
  const heads = g.units;
  for (const element of concat.input) {
    let p = e.view.producer(element);
    while (p && SHAPE_PATH.has(p.opType)) p = e.view.producer(p.input[0]);
    if (!p || p.opType !== 'Mul') continue;
    const index = p.input.findIndex((x) => {
      const t = e.view.constantTensor(x);
      return t !== undefined && tensorDims(t).reduce((a, d) => a * d, 1) === 1 && Number(tensorArray(t)[0]) === heads;
    });
    if (index < 0) continue;
    const done = edits.get(p);
    if (done !== undefined && done !== kept) {
      throw new MmkitError('UNSUPPORTED', `prune.structured: node '${p.name}' computes the head count for several attention blocks, which keep ${done} and ${kept} heads.`, {
        node: p.name,
        hint: "Use scope: 'layer' so that every block keeps the same number of heads, or exclude the block.",
      });
    }
    if (done === undefined) {
      const t = e.view.constantTensor(p.input[index])!;
      setConstantInput(e, p, index, (name) => makeTensor(name, dtypeOf(t.dataType), tensorDims(t), dtypeOf(t.dataType) === 'int64' ? BigInt64Array.of(BigInt(kept)) : Int32Array.of(kept)));
      edits.set(p, kept);
    }
    return true;
  }
  return false;
}

/** The Reshape whose shape the pass cannot rewrite: what it looked for there, and what it found instead. */
function unsupportedShape(g: PruneGroup, reshape: NodeProto, lookedFor: string, found: string): MmkitError {
  return new MmkitError('UNSUPPORTED', `prune.structured: cannot rewrite Reshape '${reshape.name}' in layer '${g.name}': looked for ${lookedFor} in its shape, found ${found}.`, {
    node: reshape.name,
    hint: `Exclude this attention block with exclude.layers: [${g.index}].`,
  });
}

/**
 * Rewrites the block's shapes for `kept` heads: head-split Reshapes get kept instead of num_heads,
 * the merge Reshape gets kept·headDim as its last dimension. headDim (and so the score scale) stays.
 */
export function rewriteHeadShapes(e: GraphEditor, g: PruneGroup, kept: number, edits: HeadCountEdits): void {
  const a = g.attention!;
  const view = e.view;
  const heads = g.units;
  const linearOutputs = new Set(g.producers.map((m) => m.output));
  const splits = new Set([a.scores.input[0], a.scores.input[1], a.context.input[1]].flatMap((x) => splitReshapes(view, x, linearOutputs)));
  for (const r of splits) {
    const shape = view.constantTensor(r.input[1]);
    if (shape) {
      const values = int64Values(shape);
      const at = values.findIndex((v, i) => v === heads && values[i + 1] === g.unitWidth);
      if (at < 0) throw unsupportedShape(g, r, `${heads} heads of ${g.unitWidth} side by side`, `the constant shape [${values.join(', ')}]`);
      setConstantInput(e, r, 1, (name) => int64Tensor(name, values.map((v, i) => (i === at ? kept : v)), tensorDims(shape)));
    } else {
      const concat = view.producer(r.input[1]);
      if (!concat || concat.opType !== 'Concat' || !rewriteRuntimeHeadCount(e, g, concat, kept, edits)) {
        const made = concat ? `a shape computed at run time by ${concat.opType} '${concat.name}'${concat.opType === 'Concat' ? ' whose head count is not a constant' : ''}` : `the graph input '${r.input[1]}'`;
        throw unsupportedShape(g, r, `${heads} heads of ${g.unitWidth}`, made);
      }
    }
  }
  const merges = mergeReshapes(view, a.context.output[0], g.consumer.input);
  const merge = merges[merges.length - 1];
  if (!merge) return;
  const width = kept * g.unitWidth;
  const shape = view.constantTensor(merge.input[1]);
  if (shape) {
    const values = int64Values(shape);
    const last = values[values.length - 1];
    if (last === -1) return;
    if (last !== heads * g.unitWidth) throw unsupportedShape(g, merge, `the merged width ${heads * g.unitWidth} last`, `the constant shape [${values.join(', ')}]`);
    setConstantInput(e, merge, 1, (name) => int64Tensor(name, [...values.slice(0, -1), width], tensorDims(shape)));
    return;
  }
  // A runtime shape: its last element (the merged width, read from the input's shape) becomes a constant.
  const concat = view.producer(merge.input[1]);
  if (!concat || concat.opType !== 'Concat' || concat.input.length < 2) {
    throw unsupportedShape(g, merge, `the merged width ${heads * g.unitWidth} last`, concat ? `a shape computed at run time by ${concat.opType} '${concat.name}'` : `the graph input '${merge.input[1]}'`);
  }
  const name = e.uniqueName(`${g.name.replace(/^\//, '').replace(/\//g, '.')}.merged_width`);
  e.addInitializer(int64Tensor(name, [width]));
  e.renameInput(concat, concat.input.length - 1, name);
}

/** Values whose shape changes inside the group (from its producers up to the consumer), whose declared value infos must go. */
export function resizedValues(view: GraphView, g: PruneGroup): Set<string> {
  const stop = g.consumer.matmul;
  const seen = new Set<string>();
  const queue = g.producers.flatMap((m) => [...m.matmul.output]);
  while (queue.length > 0) {
    const name = queue.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    for (const c of view.consumers(name)) if (c !== stop) queue.push(...c.output);
  }
  return seen;
}
