/**
 * Recognises the building blocks of vision transformers in an ONNX graph: linear layers,
 * convolutions, MLP blocks and attention blocks, as torch (legacy and dynamo-free exports),
 * Optimum/HF and ModelBuilder write them.
 */
import { attrFloat, attrInt, attrInts } from './attrs';
import type { GraphView } from './graph';
import type { NodeProto, TensorProto } from './proto';
import { tensorArray, tensorDims } from './tensor';

export interface LinearMatch {
  /** The MatMul or Gemm node. */
  matmul: NodeProto;
  /** The Add that applies the bias after a MatMul. */
  add?: NodeProto;
  /** Initializer holding the 2-D weight. */
  weight: string;
  /** Initializer holding the bias (found through Identity nodes). */
  bias?: string;
  /** 'in_out': weight is [in, out] (MatMul, Gemm transB=0); 'out_in': [out, in] (Gemm transB=1, torch's nn.Linear layout). */
  layout: 'in_out' | 'out_in';
  inDim: number;
  outDim: number;
  /** The activation going in, and the value the layer produces (after the bias). */
  input: string;
  output: string;
}

export interface ConvMatch {
  conv: NodeProto;
  weight: string;
  bias?: string;
  input: string;
  output: string;
  outChannels: number;
  inChannelsPerGroup: number;
  kernel: number[];
  group: number;
}

export interface MlpMatch {
  fc1: LinearMatch;
  fc2: LinearMatch;
  activation: 'gelu' | 'gelu_tanh' | 'relu';
  /** The nodes computing the activation, between fc1.output and fc2.input. */
  activationNodes: NodeProto[];
}

export interface AttentionMatch {
  q: LinearMatch;
  k: LinearMatch;
  v: LinearMatch;
  /** True when one linear computes q, k and v together (torch's nn.MultiheadAttention in_proj). */
  packed: boolean;
  out: LinearMatch;
  numHeads: number;
  headDim: number;
  /** The product of all constant scalings of the scores (1/sqrt(headDim) normally). */
  scale: number;
  scores: NodeProto;
  softmax: NodeProto;
  context: NodeProto;
  /** Constant shape inputs of the block's Reshape nodes (empty when torch computes them at run time). */
  reshapeShapes: string[];
}

function is2D(t: TensorProto | undefined): t is TensorProto {
  return t !== undefined && t.dims.length === 2;
}

/** The only consumer of `name`, or undefined when there are none or several (or it is a graph output). */
function soleConsumer(view: GraphView, name: string): NodeProto | undefined {
  const c = view.consumers(name);
  return c.length === 1 && !view.isGraphOutput(name) ? c[0] : undefined;
}

/** A constant scalar (any shape with one element) as a number. */
function scalarValue(view: GraphView, name: string): number | undefined {
  const t = view.constantTensor(name);
  if (!t || t.dims.reduce((n, d) => n * Number(d), 1) !== 1) return undefined;
  try {
    return Number(tensorArray(t)[0]);
  } catch {
    return undefined;
  }
}

function vectorOf(view: GraphView, name: string, length: number): string | undefined {
  const source = view.constantSource(name);
  if (!source) return undefined;
  const dims = tensorDims(source.tensor);
  const n = dims.reduce((a, d) => a * d, 1);
  return n === length && dims[dims.length - 1] === length ? source.name : undefined;
}

/** MatMul (+ bias Add) with an initializer weight, and Gemm, in graph order. */
export function findLinears(view: GraphView): LinearMatch[] {
  const out: LinearMatch[] = [];
  for (const n of view.nodes) {
    if (n.domain !== '') continue;
    if (n.opType === 'MatMul') {
      const w = view.initializer(n.input[1]);
      if (!is2D(w)) continue;
      const [inDim, outDim] = tensorDims(w);
      const match: LinearMatch = { matmul: n, weight: n.input[1], layout: 'in_out', inDim, outDim, input: n.input[0], output: n.output[0] };
      const add = soleConsumer(view, n.output[0]);
      if (add && add.opType === 'Add' && add.domain === '') {
        const other = add.input[0] === n.output[0] ? add.input[1] : add.input[0];
        const bias = vectorOf(view, other, outDim);
        if (bias) Object.assign(match, { add, bias, output: add.output[0] });
      }
      out.push(match);
    } else if (n.opType === 'Gemm') {
      const w = view.initializer(n.input[1]);
      if (!is2D(w) || attrInt(n, 'transA', 0) !== 0 || attrFloat(n, 'alpha', 1) !== 1) continue;
      const outIn = attrInt(n, 'transB', 0) === 1;
      const [a, b] = tensorDims(w);
      const [inDim, outDim] = outIn ? [b, a] : [a, b];
      const bias = n.input[2] ? vectorOf(view, n.input[2], outDim) : undefined;
      if (n.input[2] && (!bias || attrFloat(n, 'beta', 1) !== 1)) continue;
      out.push({ matmul: n, weight: n.input[1], bias, layout: outIn ? 'out_in' : 'in_out', inDim, outDim, input: n.input[0], output: n.output[0] });
    }
  }
  return out;
}

export function findConvs(view: GraphView): ConvMatch[] {
  const out: ConvMatch[] = [];
  for (const n of view.nodes) {
    if (n.opType !== 'Conv' || n.domain !== '') continue;
    const w = view.initializer(n.input[1]);
    if (!w || w.dims.length < 3) continue;
    const [outChannels, inChannelsPerGroup, ...kernel] = tensorDims(w);
    out.push({
      conv: n,
      weight: n.input[1],
      bias: n.input[2] ? vectorOf(view, n.input[2], outChannels) : undefined,
      input: n.input[0],
      output: n.output[0],
      outChannels,
      inChannelsPerGroup,
      kernel: attrInts(n, 'kernel_shape') ?? kernel,
      group: attrInt(n, 'group', 1),
    });
  }
  return out;
}

const near = (a: number | undefined, b: number, tol = 1e-3) => a !== undefined && Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

/** The other input of a binary node, when one input is `name`. */
function otherInput(node: NodeProto, name: string): string | undefined {
  if (node.input[0] === name) return node.input[1];
  if (node.input[1] === name) return node.input[0];
  return undefined;
}

/**
 * The activation after `h`: returns its kind, its nodes and the value it produces. GELU in
 * Erf form is x·0.5·(1+erf(x/√2)) in either multiplication order (torch, HF).
 */
function activationAfter(view: GraphView, h: string): { kind: MlpMatch['activation']; nodes: NodeProto[]; output: string } | undefined {
  const consumers = view.consumers(h);
  const single = consumers.length === 1 ? consumers[0] : undefined;
  if (single && single.opType === 'Relu') return { kind: 'relu', nodes: [single], output: single.output[0] };
  if (single && single.opType === 'Gelu') {
    const tanh = single.attribute.some((a) => a.name === 'approximate' && new TextDecoder().decode(a.s) === 'tanh');
    return { kind: tanh ? 'gelu_tanh' : 'gelu', nodes: [single], output: single.output[0] };
  }
  if (single && single.opType === 'FastGelu') return { kind: 'gelu_tanh', nodes: [single], output: single.output[0] };
  // Erf form: find x/√2 (or x·(1/√2)) feeding an Erf.
  for (const scale of consumers) {
    const c = otherInput(scale, h);
    if (c === undefined || scale.input[0] !== h) continue;
    const value = scalarValue(view, c);
    const ok = (scale.opType === 'Div' && near(value, Math.SQRT2)) || (scale.opType === 'Mul' && near(value, Math.SQRT1_2));
    const erf = ok ? soleConsumer(view, scale.output[0]) : undefined;
    if (!erf || erf.opType !== 'Erf') continue;
    const plusOne = soleConsumer(view, erf.output[0]);
    if (!plusOne || plusOne.opType !== 'Add' || !near(scalarValue(view, otherInput(plusOne, erf.output[0]) ?? ''), 1)) continue;
    const times = soleConsumer(view, plusOne.output[0]);
    const factor = times && times.opType === 'Mul' ? otherInput(times, plusOne.output[0]) : undefined;
    if (!times || factor === undefined) continue;
    if (factor === h) {
      // torch: (x * (1 + erf)) * 0.5
      const half = soleConsumer(view, times.output[0]);
      if (half && half.opType === 'Mul' && near(scalarValue(view, otherInput(half, times.output[0]) ?? ''), 0.5)) {
        return { kind: 'gelu', nodes: [scale, erf, plusOne, times, half], output: half.output[0] };
      }
    } else {
      // HF: (x * 0.5) * (1 + erf)
      const halfNode = view.producer(factor);
      if (halfNode && halfNode.opType === 'Mul' && otherInput(halfNode, h) !== undefined && near(scalarValue(view, otherInput(halfNode, h)!), 0.5)) {
        return { kind: 'gelu', nodes: [scale, erf, plusOne, halfNode, times], output: times.output[0] };
      }
    }
  }
  return undefined;
}

/** linear → GELU/ReLU → linear blocks. */
export function findMlps(view: GraphView, linears: LinearMatch[] = findLinears(view)): MlpMatch[] {
  const byInput = new Map<string, LinearMatch>();
  for (const l of linears) byInput.set(l.input, l);
  const out: MlpMatch[] = [];
  for (const fc1 of linears) {
    const act = activationAfter(view, fc1.output);
    const fc2 = act && byInput.get(act.output);
    if (act && fc2 && fc2.inDim === fc1.outDim) out.push({ fc1, fc2, activation: act.kind, activationNodes: act.nodes });
  }
  return out;
}

// Ops that only move, reshape or scale data between a linear and the attention MatMuls.
const PASS_THROUGH = new Set(['Transpose', 'Reshape', 'Slice', 'Squeeze', 'Unsqueeze', 'Gather', 'Split', 'Cast', 'Identity', 'Div', 'Mul']);

interface Branch {
  linear: LinearMatch;
  scale: number;
  reshapes: NodeProto[];
  sliced: boolean;
}

/** Walks back from an attention MatMul input to the linear that feeds it. */
function branchTo(view: GraphView, name: string, linearsByOutput: Map<string, LinearMatch>): Branch | undefined {
  let scale = 1;
  const reshapes: NodeProto[] = [];
  let sliced = false;
  for (let hops = 0; hops < 12; hops++) {
    const linear = linearsByOutput.get(name);
    if (linear) return { linear, scale, reshapes, sliced };
    const p = view.producer(name);
    if (!p || p.domain !== '' || !PASS_THROUGH.has(p.opType)) return undefined;
    if (p.opType === 'Div' || p.opType === 'Mul') {
      const c = scalarValue(view, p.input[1]);
      if (c === undefined) return undefined;
      scale *= p.opType === 'Div' ? 1 / c : c;
    }
    if (p.opType === 'Reshape') reshapes.push(p);
    if (p.opType === 'Slice' || p.opType === 'Split' || p.opType === 'Gather') sliced = true;
    name = p.input[0];
  }
  return undefined;
}

/** Walks forward from the context MatMul through Transpose/Reshape to the output linear. */
function outputLinear(view: GraphView, name: string, linearsByInput: Map<string, LinearMatch>): { linear: LinearMatch; reshapes: NodeProto[] } | undefined {
  const reshapes: NodeProto[] = [];
  for (let hops = 0; hops < 6; hops++) {
    const linear = linearsByInput.get(name);
    if (linear) return { linear, reshapes };
    const next = soleConsumer(view, name);
    if (!next || next.domain !== '' || !['Transpose', 'Reshape', 'Identity', 'Cast'].includes(next.opType)) return undefined;
    if (next.opType === 'Reshape') reshapes.push(next);
    name = next.output[0];
  }
  return undefined;
}

/** The constant shape of a Reshape, when it is one. */
function constantShape(view: GraphView, reshape: NodeProto): { name: string; shape: number[] } | undefined {
  const source = view.constantSource(reshape.input[1]);
  if (!source) return undefined;
  return { name: source.name, shape: Array.from(tensorArray(source.tensor) as BigInt64Array, (v) => Number(v)) };
}

/**
 * Multi-head self-attention blocks: Q, K, V linears (separate or packed) → reshape/transpose
 * into heads → MatMul → scale → Softmax → MatMul → merge heads → output linear.
 */
export function findAttention(view: GraphView, linears: LinearMatch[] = findLinears(view)): AttentionMatch[] {
  const byOutput = new Map(linears.map((l) => [l.output, l]));
  const byInput = new Map(linears.map((l) => [l.input, l]));
  const out: AttentionMatch[] = [];
  for (const softmax of view.nodes) {
    if (softmax.opType !== 'Softmax' || softmax.domain !== '') continue;
    // Scores side: MatMul(q, kᵀ), possibly scaled and masked before the Softmax.
    let scale = 1;
    let name = softmax.input[0];
    let scores: NodeProto | undefined;
    for (let hops = 0; hops < 4 && !scores; hops++) {
      const p = view.producer(name);
      if (!p || p.domain !== '') break;
      if (p.opType === 'MatMul') scores = p;
      else if (p.opType === 'Div' || p.opType === 'Mul') {
        const c = scalarValue(view, p.input[1]);
        if (c === undefined) break;
        scale *= p.opType === 'Div' ? 1 / c : c;
        name = p.input[0];
      } else if (p.opType === 'Add') {
        // An attention mask is added to the scores: follow the input that comes from the scores.
        const fromScores = p.input.find((i) => ['MatMul', 'Div', 'Mul'].includes(view.producer(i)?.opType ?? ''));
        if (!fromScores) break;
        name = fromScores;
      } else break;
    }
    const context = soleConsumer(view, softmax.output[0]);
    if (!scores || !context || context.opType !== 'MatMul' || context.input[0] !== softmax.output[0]) continue;
    const q = branchTo(view, scores.input[0], byOutput);
    const k = branchTo(view, scores.input[1], byOutput);
    const v = branchTo(view, context.input[1], byOutput);
    const o = outputLinear(view, context.output[0], byInput);
    if (!q || !k || !v || !o) continue;
    scale *= q.scale * k.scale;
    const packed = q.linear === k.linear && k.linear === v.linear;
    const hidden = packed ? q.linear.outDim / 3 : q.linear.outDim;
    const shapes = [...q.reshapes, ...k.reshapes, ...v.reshapes, ...o.reshapes].map((r) => constantShape(view, r));
    // Head size from q's constant reshape ([.., heads, headDim]) when there is one, else from the 1/√d scale.
    const qShape = q.reshapes.length > 0 ? constantShape(view, q.reshapes[q.reshapes.length - 1])?.shape : undefined;
    let headDim = qShape && qShape[qShape.length - 1] > 0 ? qShape[qShape.length - 1] : Math.round(1 / (scale * scale));
    if (!(headDim > 0) || hidden % headDim !== 0) headDim = hidden;
    out.push({
      q: q.linear,
      k: k.linear,
      v: v.linear,
      packed,
      out: o.linear,
      numHeads: hidden / headDim,
      headDim,
      scale,
      scores,
      softmax,
      context,
      reshapeShapes: [...new Set(shapes.filter((s) => s !== undefined).map((s) => s.name))],
    });
  }
  return out;
}
