/**
 * MLP-like chains beyond the transformer MLP patterns (sdk/onnx findMlps): linear → elementwise
 * activation → linear, where a linear is a MatMul (+ bias Add), a Gemm, or a 1×1 Conv (the
 * squeeze-excite and pointwise blocks of MobileNet-style CNNs), and the activation is any run of
 * elementwise ops whose other inputs are scalar constants (ReLU, Swish x·σ(x), HardSwish, GELU, …),
 * so every hidden unit stays on its own and can be removed with its weights on both sides.
 */
import { attrInts, findConvs, tensorDims, type GraphView, type LinearMatch, type NodeProto } from '../../onnx';

/** A chain: `fc1`'s outputs are the hidden units `fc2` reads, through `activation`. */
export interface LinearChain {
  fc1: LinearMatch;
  fc2: LinearMatch;
  activation: NodeProto[];
  /** True for Conv chains: the units lie along axis 1 (NCHW), not the last axis. */
  channelsFirst: boolean;
}

// Elementwise ops that keep each unit to itself when their other inputs are scalars.
const ELEMENTWISE = new Set([
  'Abs', 'Add', 'Clip', 'Div', 'Elu', 'Erf', 'Exp', 'Gelu', 'HardSigmoid', 'HardSwish', 'LeakyRelu', 'Log', 'Max', 'Min', 'Mish', 'Mul', 'Neg', 'Pow',
  'Relu', 'Selu', 'Sigmoid', 'Softplus', 'Softsign', 'Sqrt', 'Sub', 'Tanh',
]);
const MAX_ACTIVATION_NODES = 8;

const isScalar = (view: GraphView, name: string) => {
  const t = view.constantTensor(name);
  return t !== undefined && tensorDims(t).reduce((a, d) => a * d, 1) === 1;
};

/** 1×1 Convs (one group, no padding) as linears in torch's [out, in] layout; their weights keep the trailing 1×1. */
export function pointwiseConvs(view: GraphView): LinearMatch[] {
  return findConvs(view)
    .filter((c) => c.kernel.every((k) => k === 1) && c.group === 1 && (attrInts(c.conv, 'pads') ?? []).every((p) => p === 0) && view.initializer(c.weight))
    .filter((c) => c.conv.input[2] === undefined || c.conv.input[2] === '' || c.bias !== undefined)
    .map((c) => ({ matmul: c.conv, weight: c.weight, bias: c.bias, layout: 'out_in', inDim: c.inChannelsPerGroup, outDim: c.outChannels, input: c.input, output: c.output }));
}

/**
 * The elementwise region from `start` to the one value a linear of `byInput` reads (fc2), or
 * undefined when a value escapes it (another reader, a graph output) or an op mixes units. Grown
 * to a fixed point, so x·σ(x) is found whichever of its two readers comes first.
 */
function activationTo(view: GraphView, start: string, byInput: Map<string, LinearMatch>): { nodes: NodeProto[]; fc2: LinearMatch } | undefined {
  const nodes = new Set<NodeProto>();
  const values = new Set([start]);
  const ready = (n: NodeProto) => n.input.every((x) => x === '' || values.has(x) || isScalar(view, x));
  for (let grown = true; grown && nodes.size <= MAX_ACTIVATION_NODES; ) {
    grown = false;
    for (const v of [...values]) {
      for (const c of view.consumers(v)) {
        if (nodes.has(c) || byInput.get(v)?.matmul === c || !ready(c)) continue;
        if (c.domain !== '' || !ELEMENTWISE.has(c.opType) || c.output.length !== 1) return undefined;
        nodes.add(c);
        values.add(c.output[0]);
        grown = true;
      }
    }
  }
  if (nodes.size === 0 || nodes.size > MAX_ACTIVATION_NODES) return undefined;
  // Every reader of the region is in it, except fc2 reading its one end value.
  const outside = [...values].flatMap((v) => view.consumers(v).filter((c) => !nodes.has(c)).map((c) => ({ v, c })));
  if (outside.length !== 1 || [...values].some((v) => view.isGraphOutput(v))) return undefined;
  const fc2 = byInput.get(outside[0].v);
  return fc2 && fc2.matmul === outside[0].c ? { nodes: [...nodes], fc2 } : undefined;
}

/**
 * linear → activation → linear chains among `linears` (MatMul/Gemm) and the graph's 1×1 Convs.
 * A chain's hidden width must agree on both sides.
 */
export function findLinearChains(view: GraphView, linears: readonly LinearMatch[]): LinearChain[] {
  const convs = pointwiseConvs(view);
  const all = [...linears, ...convs];
  const byInput = new Map<string, LinearMatch>();
  for (const l of all) if (view.consumers(l.input).length === 1) byInput.set(l.input, l);
  const chains: LinearChain[] = [];
  for (const fc1 of all) {
    const found = activationTo(view, fc1.output, byInput);
    if (!found || found.fc2.inDim !== fc1.outDim) continue;
    const channelsFirst = convs.includes(fc1);
    if (channelsFirst !== convs.includes(found.fc2)) continue; // a Conv feeding a MatMul reads its units along another axis
    chains.push({ fc1, fc2: found.fc2, activation: found.nodes, channelsFirst });
  }
  return chains;
}
